"""Adversarial review of input from outside: FatturaPA, CSV/XLSX imports, generic uploads, the spool
folder, the API's JSON. Each test is a probe that found a hole (now closed) or pins a defence that
holds; all limits are proved with small configured limits, never with big allocations.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import zipfile

import pytest

from mailer.extensions import db
from tests.support.documents import bearer, make_party

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _sample(samples_dir, name: str) -> bytes:
    """A real FatturaPA sample."""
    return (samples_dir / "fatturapa" / name).read_bytes()


def _set(xml: bytes, tag: str, value: bytes, occurrence: int = 1) -> bytes:
    """The XML with the text of the n-th <tag> replaced."""
    matches = list(re.finditer(rb"<%s>[^<]*</%s>" % (tag.encode(), tag.encode()), xml))
    match = matches[occurrence - 1]
    return xml[: match.start()] + b"<%s>%s</%s>" % (tag.encode(), value, tag.encode()) + xml[match.end() :]


def _count_documents() -> int:
    """Documents in the database."""
    from mailer.models import Document

    return db.session.scalar(db.select(db.func.count(Document.id)))


# ---------------------------------------------------------------- FatturaPA


@pytest.mark.parametrize(
    "tag, value, reason",
    [
        ("NumeroLinea", b"abc", "NumeroLinea"),  # was a ValueError (int())
        ("NumeroLinea", b"99999999999999999999", "NumeroLinea"),  # overflowed the integer column
        ("PrezzoTotale", b"Infinity", "fuori dai limiti"),  # was decimal.InvalidOperation
        ("PrezzoTotale", b"1e400", "fuori dai limiti"),  # idem, at quantize
        ("PrezzoTotale", b"NaN", "fuori dai limiti"),  # was stored as NaN
        ("PrezzoUnitario", b"500000000000", "fuori dai limiti"),  # more than Numeric(16, 5) holds
        ("AliquotaIVA", b"1e99", "fuori dai limiti"),
        ("ImponibileImporto", b"1e13", "fuori dai limiti"),
    ],
)
def test_fatturapa_bad_numbers_are_refused_naming_the_line(app_ctx, samples_dir, tag, value, reason):
    """Non-numbers, infinities and numbers beyond the columns: FatturaPAError naming body and line."""
    from mailer.services.fatturapa import FatturaPAError, parse_fatturapa

    xml = _set(_sample(samples_dir, "IT01234567890_FPR02.xml"), tag, value)
    with pytest.raises(FatturaPAError) as info:
        parse_fatturapa(xml, "x.xml")
    assert reason in str(info.value)
    if tag in ("NumeroLinea", "PrezzoTotale", "PrezzoUnitario", "AliquotaIVA"):
        assert "linea 1" in str(info.value), str(info.value)


def test_fatturapa_simplified_rate_of_minus_100_is_refused(app_ctx, samples_dir):
    """FSM10 with Aliquota -100 and no Imposta divided by zero (decimal.DivisionByZero)."""
    from mailer.services.fatturapa import FatturaPAError, parse_fatturapa

    xml = _sample(samples_dir, "IT02780790107_11009.xml")
    xml = re.sub(rb"<Imposta>[^<]*</Imposta>", b"", xml)
    xml = re.sub(rb"<Aliquota>[^<]*</Aliquota>", b"<Aliquota>-100</Aliquota>", xml)
    with pytest.raises(FatturaPAError) as info:
        parse_fatturapa(xml, "x.xml")
    assert "Aliquota" in str(info.value)


def test_fatturapa_second_body_bad_writes_nothing(app, samples_dir):
    """A file with two bodies, the second broken: the upload page refuses the file, nothing is written."""
    xml = _sample(samples_dir, "IT01234567890_FPA03.xml")
    bad = _set(xml, "PrezzoTotale", b"Infinity", occurrence=len(re.findall(rb"<PrezzoTotale>", xml)))
    from mailer.services.fatturapa import FatturaPAError, import_fatturapa

    with app.app_context():
        with pytest.raises(FatturaPAError) as info:
            import_fatturapa(bad, "x.xml")
        assert "corpo 2" in str(info.value)
        db.session.rollback()
        assert _count_documents() == 0


def test_fatturapa_cli_goes_on_after_a_bad_number(runner, samples_dir, tmp_path, app):
    """The CLI used to stop at the first such file with a traceback; now it reports it and goes on."""
    bad = tmp_path / "bad.xml"
    bad.write_bytes(_set(_sample(samples_dir, "IT01234567890_FPR02.xml"), "NumeroLinea", b"x"))
    good = samples_dir / "fatturapa" / "IT01234567890_FPR04.xml"
    result = runner.invoke(args=["import-fatturapa", str(bad), str(good), "--json"])
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert result.exit_code == 1 and "NumeroLinea" in rows[0]["error"] and "number" in rows[1]


def _with_attachment(xml: bytes, name: str, content: bytes = b"%PDF-1.4 allegato") -> bytes:
    """The XML with an Allegati block appended to its first body."""
    block = (
        b"<Allegati><NomeAttachment>" + name.encode() + b"</NomeAttachment><FormatoAttachment>PDF"
        b"</FormatoAttachment><Attachment>" + base64.b64encode(content) + b"</Attachment></Allegati>"
    )
    return xml.replace(b"</FatturaElettronicaBody>", block + b"</FatturaElettronicaBody>", 1)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("..\\..\\windows\\evil.pdf", "evil.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..", "allegato-1.pdf"),
        ("fattura&#13;&#10;X-Evil: 1.pdf", "fattura X-Evil: 1.pdf"),
        # right-to-left override; the extension is the detected kind's (PDF here), as for generic uploads (14.11)
        ("fattura\u202efdp.exe", "fatturafdp.pdf"),
        ("a" * 400 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_fatturapa_attachment_names_are_cleaned(app_ctx, samples_dir, name, expected):
    """Allegati names lose paths, control and bidi characters, keep their extension within 255."""
    from mailer.services.fatturapa import parse_fatturapa

    xml = _with_attachment(_sample(samples_dir, "IT01234567890_FPR02.xml"), name)
    attachments = parse_fatturapa(xml, "x.xml")[0].attachments
    assert attachments[0][0] == expected


def test_attachment_download_with_odd_name(client, auth, app, samples_dir):
    """A number or attachment name outside Latin-1 is sent as filename* (RFC 6266), not a 500."""
    from mailer.models import Document
    from mailer.services.fatturapa import import_fatturapa

    xml = _set(_sample(samples_dir, "IT01234567890_FPR02.xml"), "Numero", "F\u20ac/12".encode())
    xml = _with_attachment(xml, "preventivo \u20ac.pdf")
    with app.app_context():
        import_fatturapa(xml, "x.xml")
        db.session.commit()
        document = db.session.scalar(db.select(Document))
        document_id, attachment_id = document.id, document.attachments[0].id
    auth.login("admin")
    response = client.get(f"/documenti/{document_id}/attachments/{attachment_id}")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what the WSGI server must be able to write
    assert "filename*=UTF-8''preventivo%20%E2%82%AC.pdf" in disposition


def test_fatturapa_p7m_holding_a_p7m_or_a_pdf_is_refused(app_ctx, samples_dir):
    """A signed envelope whose content is not XML (a PDF, or garbage) is refused, not half-read."""
    from asn1crypto import cms

    from mailer.services.fatturapa import FatturaPAError, parse_fatturapa

    signed = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    "version": "v1",
                    "digest_algorithms": [],
                    "encap_content_info": {"content_type": "data", "content": b"%PDF-1.4 not an invoice"},
                    "signer_infos": [],
                }
            ),
        }
    ).dump()
    for data in (signed, base64.encodebytes(signed), signed[: len(signed) // 2]):
        with pytest.raises(FatturaPAError) as info:
            parse_fatturapa(data, "x.xml.p7m")
        assert "p7m" in str(info.value)


def test_fatturapa_deep_nesting_and_odd_prefixes(app_ctx, samples_dir):
    """100,000 nested elements inside a body and an unusual namespace prefix: parsed, not a crash."""
    from mailer.services.fatturapa import parse_fatturapa

    xml = _sample(samples_dir, "IT01234567890_FPR02.xml")
    deep = xml.replace(b"<DatiBeniServizi>", b"<DatiBeniServizi>" + b"<x>" * 100000 + b"</x>" * 100000, 1)
    assert parse_fatturapa(deep, "x.xml")[0].number == "123"
    odd = xml.replace(b"p:FatturaElettronica", b"ns0:FatturaElettronica").replace(b"xmlns:p=", b"xmlns:ns0=")
    assert parse_fatturapa(b"\xef\xbb\xbf" + odd, "x.xml")[0].number == "123"


# ---------------------------------------------------------------- party / contact import (CSV, XLSX)


def _xlsx(cells: dict[str, object], dimension: str | None = None, padding: int = 0) -> bytes:
    """A minimal XLSX built by hand: cells by reference (A1, XFD3…), an optional declared dimension,
    and optional padding (spaces inside the sheet XML) to make it large once uncompressed."""
    rows: dict[int, list[str]] = {}
    for ref, value in cells.items():
        row = int(re.sub(r"[A-Z]", "", ref))
        rows.setdefault(row, []).append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
    sheet_rows = "".join(f'<row r="{n}">{"".join(c)}</row>' for n, c in sorted(rows.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dim}'
        f"<sheetData>{sheet_rows}</sheetData>{' ' * padding}</worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Foglio1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


HEADER = {"A1": "codice", "B1": "ragione_sociale", "A2": "C1", "B2": "Rossi"}


def test_xlsx_hand_built_reads(app_ctx):
    """The hand-built workbook of these tests is a valid one (so the refusals below are honest)."""
    from mailer.services.party_import import import_parties

    assert import_parties(_xlsx(HEADER), "a.xlsx").ok


def test_xlsx_with_a_cell_far_away_is_not_blown_up(app_ctx, monkeypatch):
    """One cell at XFD1048576 with the dimension A1:XFD1048576 made openpyxl pad a million rows of 16,384
    cells (a 5 KB file, tens of GB in memory); now the rows stop at MAX_ROWS with the row named."""
    from mailer.services import party_import, spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 1000)
    data = _xlsx({**HEADER, "XFD1048576": "x"}, dimension="A1:XFD1048576")
    assert len(data) < 5000
    with pytest.raises(party_import.ImportFileError) as info:
        party_import.import_parties(data, "a.xlsx")
    assert "Riga 1001" in str(info.value) and "1000 righe" in str(info.value)


def test_xlsx_wide_rows_are_cut_to_max_columns(app_ctx, monkeypatch):
    """A cell at column XFD on every row no longer makes every row 16,384 cells wide."""
    from mailer.services import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_COLUMNS", 50)
    rows = list(spreadsheets.read_table(_xlsx({**HEADER, "XFD2": "far"}, dimension="A1:XFD2"), "a.xlsx"))
    assert [len(cells) for _, cells in rows] == [50, 50] and rows[1][1][:2] == ["C1", "Rossi"]


def test_xlsx_that_unpacks_too_big_is_refused_before_parsing(app_ctx, monkeypatch):
    """A zip bomb: the sheet's declared uncompressed size is checked before openpyxl reads it."""
    from mailer.services import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_XLSX_UNPACKED_BYTES", 1024 * 1024)
    data = _xlsx(HEADER, padding=2 * 1024 * 1024)
    assert len(data) < 50_000
    with pytest.raises(spreadsheets.ImportFileError) as info:
        list(spreadsheets.read_table(data, "a.xlsx"))
    assert "decompresso" in str(info.value)


def test_csv_with_a_huge_field_names_the_line(app_ctx):
    """An unclosed quote (or a field over 128 KB) was a csv.Error: a 500 on the upload page."""
    from mailer.services.party_import import ImportFileError, import_parties

    data = b'codice;ragione_sociale\nC1;Rossi\nC2;"Bianchi\n' + b"x" * 140_000 + b"\n"
    with pytest.raises(ImportFileError) as info:
        import_parties(data, "a.csv")
    assert "Riga 3" in str(info.value)


def test_csv_with_nul_bytes_is_refused_naming_the_line(app_ctx):
    """Binary garbage with NUL bytes named .csv: refused (PostgreSQL cannot store NUL in text)."""
    from mailer.services.party_import import ImportFileError, import_parties

    with pytest.raises(ImportFileError) as info:
        import_parties(b"codice;ragione_sociale\nC1;Rossi\nC2;Bia\x00nchi\n", "a.csv")
    assert "Riga 3" in str(info.value) and "NUL" in str(info.value)


@pytest.mark.parametrize(
    "encoding, bom",
    [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b"")],
)
def test_csv_encodings_with_accents(app_ctx, encoding, bom):
    """Excel's «Testo Unicode» (UTF-16 with BOM, tabs), UTF-8 with BOM and Windows-1252 all keep the accents."""
    from mailer.services.spreadsheets import read_table

    text = "codice\tragione_sociale\nC1\tCaffè Società Cooperativa\n"
    rows = list(read_table(bom + text.encode(encoding), "a.txt"))
    assert rows[1] == (2, ["C1", "Caffè Società Cooperativa"])


def test_csv_comma_and_semicolon_and_empty(app_ctx):
    """Both delimiters read; an empty file or one of blank lines says so."""
    from mailer.services.party_import import ImportFileError, import_parties

    assert import_parties(b'codice,ragione_sociale\nC1,"Rossi; Bianchi"\n', "a.csv").ok
    assert import_parties(b"codice;ragione_sociale\nC1;Rossi, Bianchi\n", "a.csv").ok
    for empty in (b"", b"\n\n\r\n", b"\xef\xbb\xbf"):
        with pytest.raises(ImportFileError) as info:
            import_parties(empty, "a.csv")
        assert "vuoto" in str(info.value)


def test_import_upload_with_bad_file_is_an_italian_error_not_a_500(client, auth):
    """The upload page shows the reason (was a 500 for the unclosed quote)."""
    auth.login("admin")
    data = b'codice;ragione_sociale\nC1;"Rossi\n' + b"x" * 140_000
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(data), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 400, 422) and "Riga 2" in response.get_data(as_text=True)


# ---------------------------------------------------------------- generic documents


def _odt_with_odd_mimetype(flag_bits: int = 0, method: int | None = None) -> bytes:
    """An ODT whose «mimetype» entry is marked encrypted, or compressed with an unknown method."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", b"application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", b"<office/>")
    data = bytearray(out.getvalue())
    central = data.find(b"PK\x01\x02")
    data[6] |= flag_bits
    data[central + 8] |= flag_bits
    if method is not None:
        data[8] = data[central + 10] = method
    return bytes(data)


@pytest.mark.parametrize(
    "data, reason",
    [
        (_odt_with_odd_mimetype(flag_bits=1), "cifrato"),  # was RuntimeError: password required
        (_odt_with_odd_mimetype(method=99), "non supportat"),  # was NotImplementedError
    ],
)
def test_generic_upload_odd_zip_entries_are_refused(data, reason):
    """A zip whose entries cannot be read is an UploadError, not a 500."""
    from mailer.services.generic_documents import UploadError, detect_kind

    with pytest.raises(UploadError) as info:
        detect_kind(data, "avviso.odt")
    assert reason in str(info.value)


# ---------------------------------------------------------------- spool folder


def _run_spool(app):
    """One spool run (in its own app context)."""
    from mailer.services.spool import import_spool

    with app.app_context():
        return import_spool()


def _listing(spool_dir: str, sub: str) -> list[str]:
    """Names in a sub-folder of the spool."""
    return sorted(os.listdir(os.path.join(spool_dir, sub)))


SIDECAR = {"type": "FATTURA", "number": "S1", "date": "2024-03-15", "party_code": "C0001"}


def test_spool_deeply_nested_sidecar_goes_to_error_and_the_rest_goes_on(app, spool):
    """A sidecar of 100,000 nested arrays raised RecursionError: the run stopped, the file stayed in
    processing/ and every later run stopped on it again. Now it goes to error/ with a reason."""
    os.makedirs(spool, exist_ok=True)
    with open(os.path.join(spool, "A.pdf"), "wb") as handle:
        handle.write(PDF)
    with open(os.path.join(spool, "A.json"), "w") as handle:
        handle.write("[" * 100_000)
    with open(os.path.join(spool, "B.pdf"), "wb") as handle:
        handle.write(PDF)
    with open(os.path.join(spool, "B.json"), "w") as handle:
        json.dump(SIDECAR, handle)
    report = _run_spool(app)
    assert [e["file"] for e in report.errors] == ["A.pdf"] and "JSON" in report.errors[0]["error"]
    assert len(report.imported) == 1 and _listing(spool, "processing") == []
    assert "A.pdf" in _listing(spool, "error")


def test_spool_symlink_to_a_file_outside_is_refused(app, spool, tmp_path):
    """A link in the spool folder to a file elsewhere (here a FatturaPA) is not read: it goes to error/."""
    from mailer.models import Document

    outside = tmp_path / "outside.pdf"
    outside.write_bytes(PDF)
    os.makedirs(spool, exist_ok=True)
    os.symlink(outside, os.path.join(spool, "FATTURA__2024-03-15__L1__C0001.pdf"))
    report = _run_spool(app)
    assert report.imported == [] and "collegamento" in report.errors[0]["error"]
    assert outside.read_bytes() == PDF and "FATTURA__2024-03-15__L1__C0001.pdf" in _listing(spool, "error")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_spool_pdf_over_the_limit_is_refused_without_reading_it(app, spool, monkeypatch):
    """The PDF was read whole into memory whatever its size; now its size is checked first."""
    from mailer.services import spool as spool_service

    monkeypatch.setattr(spool_service, "MAX_PDF_BYTES", 1000)
    os.makedirs(spool, exist_ok=True)
    with open(os.path.join(spool, "FATTURA__2024-03-15__G1__C0001.pdf"), "wb") as handle:
        handle.write(PDF + b"%" * 2000)
    report = _run_spool(app)
    assert report.imported == [] and "troppo grande" in report.errors[0]["error"]


def test_spool_file_name_not_in_utf8(app, spool):
    """A name written by a Windows share in Windows-1252 (undecodable as UTF-8): imported or refused,
    never stuck in processing/."""
    os.makedirs(spool, exist_ok=True)
    name = os.path.join(os.fsencode(spool), b"FATTURA__2024-03-15__N\xe81__C0001.pdf")
    with open(name, "wb") as handle:
        handle.write(PDF)
    report = _run_spool(app)
    assert len(report.imported) + len(report.errors) == 1
    assert _listing(spool, "processing") == []


def test_spool_error_name_clash_keeps_both(app, spool):
    """Two refused files with the same name keep both files and both reasons."""
    for _ in range(2):
        os.makedirs(spool, exist_ok=True)
        with open(os.path.join(spool, "X.pdf"), "wb") as handle:
            handle.write(b"not a pdf")
        _run_spool(app)
    assert _listing(spool, "error") == ["X-2.pdf", "X-2.pdf.reason.txt", "X.pdf", "X.pdf.reason.txt"]


# ---------------------------------------------------------------- API JSON bodies


def test_api_deeply_nested_json_is_a_400(client, make_token):
    """100,000 nested arrays raised RecursionError in the JSON decoder: a 500."""
    token = make_token()
    for body in ("[" * 100_000, '{"a":' * 100_000):
        response = client.post(
            "/api/v1/documents", data=body, content_type="application/json", headers=bearer(token)
        )
        assert response.status_code == 400 and response.get_json()["error"] == "JSON non valido"


@pytest.mark.parametrize(
    "field, value",
    [
        ("lines", [{"description": "x", "line_no": 10**30}]),  # overflowed the INTEGER column
        ("lines", [{"description": "x", "quantity": "500000000000"}]),  # beyond Numeric(14, 3)
        ("lines", [{"description": "x", "discount_pct": "50000"}]),  # beyond Numeric(7, 3)
    ],
)
def test_api_document_values_beyond_the_columns_are_422(client, make_token, app, field, value):
    """Values the database columns cannot hold are field errors, not a database error."""
    with app.app_context():
        make_party("C0001")
        db.session.commit()
    token = make_token()
    doc = {"type": "FATTURA", "number": "1", "date": "2024-03-15", "party_code": "C0001", field: value}
    response = client.post("/api/v1/documents", json=doc, headers=bearer(token))
    assert response.status_code == 422, response.get_json()
