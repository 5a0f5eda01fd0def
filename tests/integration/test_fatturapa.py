"""FatturaPA import with every real sample in ../shared/samples/fatturapa, plus hostile XML."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from mailer.extensions import db

# file -> list of expected documents (one per body): real numbers read from the files.
EXPECTED = {
    "IT01234567890_FPA01.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2017-01-18",
            total="6.10",
            currency="EUR",
            customer_name="AMMINISTRAZIONE BETA",
            customer_vat=None,
            customer_cf="09876543210",
            lines=1,
            attachments=0,
        )
    ],
    "IT01234567890_FPA03.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="12",
            date="2017-01-18",
            total="30.50",
            currency="EUR",
            customer_name="AMMINISTRAZIONE BETA",
            customer_vat=None,
            customer_cf="09876543210",
            lines=2,
            attachments=0,
        ),
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="456",
            date="2017-01-20",
            total="2440.00",
            currency="EUR",
            customer_name="AMMINISTRAZIONE BETA",
            customer_vat=None,
            customer_cf="09876543210",
            lines=1,
            attachments=0,
        ),
    ],
    "IT01234567890_FPR02.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2014-12-18",
            total="30.50",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="09876543210",
            lines=2,
            attachments=0,
        )
    ],
    "IT01234567890_FPR03.xml.p7m": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2014-12-18",
            total="30.50",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=2,
            attachments=0,
        ),
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="456",
            date="2014-12-20",
            total="2440.00",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=1,
            attachments=0,
        ),
    ],
    "IT01234567890_FPR04.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2014-12-18",
            total="6.10",
            currency="EUR",
            customer_name="DITTA BETA",
            customer_vat=None,
            customer_cf="09876543210",
            lines=1,
            attachments=1,
        )
    ],
    "IT01234567890_FPR06.xml": [
        dict(
            document_type="NOTA_CREDITO",
            tipo_documento="TD04",
            number="123",
            date="2020-01-09",
            total="18.30",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=2,
            attachments=0,
        )
    ],
    "IT01234567890_x05mX.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD17",
            number="BEXS/2022/0009",
            date="2022-07-21",
            total="661.24",
            currency="GBP",
            customer_name="BETA GAMMA",
            customer_vat="02780790107",
            customer_cf="02780790107",
            lines=1,
            attachments=0,
        )
    ],
    "IT02780790107_11004.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2014-12-18",
            total="41.48",
            currency="EUR",
            customer_name="AMMINISTRAZIONE BETA",
            customer_vat=None,
            customer_cf="80213330584",
            lines=2,
            attachments=1,
        )
    ],
    "IT02780790107_11009.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD07",
            number="16",
            date="2022-07-16",
            total="272.23",
            currency="EUR",
            customer_name="ROSSI SPA",
            customer_vat="05979361218",
            customer_cf="05979361218",
            lines=1,
            attachments=0,
        )
    ],
    "IT05979361218_ripilogoiva.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="GR20-900443E",
            date="2020-10-06",
            total="204.16",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=7,
            attachments=0,
        )
    ],
    "ITBNCMRA80A01D548T_20001.xml": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="001",
            date="2020-10-25",
            total="122.91",
            currency="EUR",
            customer_name="BIZZ SRL",
            customer_vat=None,
            customer_cf="04006460275",
            lines=2,
            attachments=0,
        )
    ],
    "IT01234567890_FPR03.base64.xml.p7m": [
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="123",
            date="2014-12-18",
            total="30.50",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=2,
            attachments=0,
        ),
        dict(
            document_type="FATTURA",
            tipo_documento="TD01",
            number="456",
            date="2014-12-20",
            total="2440.00",
            currency="EUR",
            customer_name="BETA GAMMA",
            customer_vat=None,
            customer_cf="03533590174",
            lines=1,
            attachments=0,
        ),
    ],
}


def _fatturapa_files(samples_dir):
    """Every sample file (all but the notes)."""
    folder = samples_dir / "fatturapa"
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".md"))


def test_every_sample_is_covered(samples_dir):
    """No sample file goes untested: EXPECTED names each one."""
    assert {p.name for p in _fatturapa_files(samples_dir)} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_json_gives_the_real_numbers(runner, samples_dir, name):
    """`flask import-fatturapa --json` prints one object per document with the numbers of the file."""
    path = samples_dir / "fatturapa" / name
    result = runner.invoke(args=["import-fatturapa", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    expected = [{"file": str(path), **e} for e in EXPECTED[name]]
    assert rows == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_documents_written(app_ctx, samples_dir, name):
    """Each body becomes a Document with lines, totals, VAT summary, party and attachments."""
    from mailer.models import Document, Party
    from mailer.services.fatturapa import import_fatturapa

    data = (samples_dir / "fatturapa" / name).read_bytes()
    summaries = import_fatturapa(data, name)
    db.session.commit()
    for summary, expected in zip(summaries, EXPECTED[name], strict=False):
        document = db.session.get(Document, summary["_document_id"])
        assert document.type_code == expected["document_type"]
        assert document.number == expected["number"]
        assert document.date.isoformat() == expected["date"]
        assert document.total == Decimal(expected["total"])
        assert len(document.lines) == expected["lines"]
        assert len(document.attachments) == expected["attachments"]
        assert document.source == "fatturapa"
        summary_rows = document.extra["vat_summary"]
        assert summary_rows, "VAT summary kept"
        assert sum(Decimal(r["taxable"]) for r in summary_rows) == document.total_net
        party = db.session.get(Party, document.party_id)
        assert party.name == expected["customer_name"]
        assert (party.vat_number or None) == expected["customer_vat"] or party.tax_code == expected[
            "customer_cf"
        ]


def test_details_of_specific_samples(app_ctx, samples_dir):
    """Payments/due dates, withholding, two VAT rates, the attachment bytes, PEC contact."""
    from mailer.models import Blob, Contact, Document
    from mailer.services.fatturapa import import_fatturapa

    folder = samples_dir / "fatturapa"
    [s11004] = import_fatturapa((folder / "IT02780790107_11004.xml").read_bytes(), "IT02780790107_11004.xml")
    db.session.commit()
    doc = db.session.get(Document, s11004["_document_id"])
    assert [d["date"] for d in doc.due_dates] == ["2015-04-30", "2015-05-30", "2015-06-30"]
    assert [d["amount"] for d in doc.due_dates] == ["20.00", "9.00", "1.50"]
    assert doc.attachments[0].filename == "test.png"
    assert db.session.get(Blob, doc.attachments[0].blob_sha256).data.startswith(b"\x89PNG")

    [s20001] = import_fatturapa((folder / "ITBNCMRA80A01D548T_20001.xml").read_bytes(), "20001.xml")
    db.session.commit()
    doc = db.session.get(Document, s20001["_document_id"])
    assert doc.extra["withholding"][0]["amount"] == "23.00"
    assert (
        doc.extra["supplier"]["name"] == "Mario Bianchi"
        and doc.extra["supplier"]["vat_number"] == "01484710387"
    )
    pec = db.session.scalars(db.select(Contact).where(Contact.party_id == doc.party_id)).all()
    assert [(c.email, c.is_pec, sorted(c.document_type_codes)) for c in pec] == [
        ("ufficio@pec.bizz.it", True, ["FATTURA"])
    ]

    [riep] = import_fatturapa((folder / "IT05979361218_ripilogoiva.xml").read_bytes(), "riep.xml")
    db.session.commit()
    doc = db.session.get(Document, riep["_document_id"])
    assert [(r["rate"], r["taxable"], r["tax"]) for r in doc.extra["vat_summary"]] == [
        ("22.00", "164.46", "36.18"),
        ("0.00", "3.52", "0.00"),
    ]


def test_customer_matched_not_duplicated(app_ctx, samples_dir):
    """A second file for the same customer (same codice fiscale) reuses the party; re-import updates."""
    from mailer.models import Document, Party
    from mailer.services.fatturapa import import_fatturapa

    folder = samples_dir / "fatturapa"
    import_fatturapa((folder / "IT01234567890_FPA03.xml").read_bytes(), "a.xml")
    import_fatturapa((folder / "IT01234567890_FPA03.xml").read_bytes(), "a.xml")
    import_fatturapa((folder / "IT01234567890_FPA01.xml").read_bytes(), "b.xml")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Party.id))) == 1
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 3


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<FatturaElettronica>&lol2;</FatturaElettronica>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE f [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><FatturaElettronica>&xxe;</FatturaElettronica>"""


@pytest.mark.parametrize(
    "data, reason",
    [
        (BILLION_LAUGHS, "DTD o delle entità"),
        (XXE, "DTD o delle entità"),
        (b"<FatturaElettronica><unclosed></FatturaElettronica>", "XML non valido"),
        (b"<Ordine/>", "non è una FatturaPA"),
        (b"not xml at all \x00\x01", "non è XML"),
        (b"\x30\x82\x01\x00garbage", "p7m"),
        (b"<" + b"a" * (9 * 1024 * 1024) + b"/>", "troppo grande"),
    ],
)
def test_hostile_or_broken_files_are_refused(app_ctx, data, reason):
    """Entity expansion, external entities, broken XML, huge files: refused with an Italian reason."""
    from mailer.services.fatturapa import FatturaPAError, parse_fatturapa

    with pytest.raises(FatturaPAError) as info:
        parse_fatturapa(data, "x.xml")
    assert reason in str(info.value)


def test_cli_reports_bad_file_and_imports_the_rest(runner, samples_dir, tmp_path, app):
    """A bad file prints {file, error}; the good one is still imported; exit status 1."""
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BILLION_LAUGHS)
    good = samples_dir / "fatturapa" / "IT01234567890_FPR02.xml"
    result = runner.invoke(args=["import-fatturapa", str(bad), str(good), "--json"])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert rows[0]["file"] == str(bad) and "entità" in rows[0]["error"] and set(rows[0]) == {"file", "error"}
    assert rows[1]["number"] == "123" and rows[1]["total"] == "30.50"
    from mailer.models import Document

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Document.id))) == 1


def test_upload_page(client, auth, samples_dir):
    """An operator uploads two files; the page lists what each became."""
    auth.login("operator")
    folder = samples_dir / "fatturapa"
    with (
        open(folder / "IT01234567890_FPA03.xml", "rb") as a,
        open(folder / "IT01234567890_FPR06.xml", "rb") as b,
    ):
        response = client.post(
            "/documenti/import",
            data={"files": [(a, "FPA03.xml"), (b, "FPR06.xml")]},
            content_type="multipart/form-data",
        )
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text[:500]
    assert "456" in text and "NOTA_CREDITO" in text and "2.440,00" in text


def test_courtesy_copy_pdf_says_it_is_not_the_original(app_ctx, samples_dir):
    """The rendered courtesy copy shows number, total and the 'not the fiscal original' notice."""
    import io

    from pypdf import PdfReader

    from mailer.models import Document
    from mailer.pdf import render_document_pdf
    from mailer.services.fatturapa import import_fatturapa

    [summary] = import_fatturapa(
        (samples_dir / "fatturapa" / "IT02780790107_11004.xml").read_bytes(), "11004.xml"
    )
    db.session.commit()
    pdf = render_document_pdf(db.session.get(Document, summary["_document_id"]))
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Copia di cortesia" in text and "non costituisce documento fiscale" in text
    assert "41,48" in text and "123" in text and "AMMINISTRAZIONE BETA" in text
