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
from tests.support.documents import bearer, make_party, make_token  # noqa: F401  (fixture)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _sample(samples_dir, name: str) -> bytes:
    """A real FatturaPA sample."""
    return (samples_dir / "fatturapa" / name).read_bytes()


def _set(xml: bytes, tag: str, value: bytes, occurrence: int = 1) -> bytes:
    """The XML with the text of the n-th <tag> replaced."""
    matches = list(re.finditer(rb"<%s>[^<]*</%s>" % (tag.encode(), tag.encode()), xml))
    match = matches[occurrence - 1]
    return xml[:match.start()] + b"<%s>%s</%s>" % (tag.encode(), value, tag.encode()) + xml[match.end():]


def _count_documents() -> int:
    """Documents in the database."""
    from mailer.models import Document
    return db.session.scalar(db.select(db.func.count(Document.id)))


# ---------------------------------------------------------------- FatturaPA


@pytest.mark.parametrize("tag, value, reason", [
    ("NumeroLinea", b"abc", "NumeroLinea"),                      # was a ValueError (int())
    ("NumeroLinea", b"99999999999999999999", "NumeroLinea"),   # overflowed the integer column
    ("PrezzoTotale", b"Infinity", "fuori dai limiti"),         # was decimal.InvalidOperation
    ("PrezzoTotale", b"1e400", "fuori dai limiti"),            # idem, at quantize
    ("PrezzoTotale", b"NaN", "fuori dai limiti"),              # was stored as NaN
    ("PrezzoUnitario", b"500000000000", "fuori dai limiti"),   # more than Numeric(16, 5) holds
    ("AliquotaIVA", b"1e99", "fuori dai limiti"),
    ("ImponibileImporto", b"1e13", "fuori dai limiti"),
])
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
    block = (b"<Allegati><NomeAttachment>" + name.encode() + b"</NomeAttachment><FormatoAttachment>PDF"
             b"</FormatoAttachment><Attachment>" + base64.b64encode(content) + b"</Attachment></Allegati>")
    return xml.replace(b"</FatturaElettronicaBody>", block + b"</FatturaElettronicaBody>", 1)


@pytest.mark.parametrize("name, expected", [
    ("..\\..\\windows\\evil.pdf", "evil.pdf"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..", "allegato-1.pdf"),
    ("fattura&#13;&#10;X-Evil: 1.pdf", "fattura X-Evil: 1.pdf"),
    ("fattura\u202efdp.exe", "fatturafdp.exe"),  # right-to-left override
    ("a" * 400 + ".pdf", "a" * 251 + ".pdf"),
])
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
    signed = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1", "digest_algorithms": [], "encap_content_info": {
            "content_type": "data", "content": b"%PDF-1.4 not an invoice"}, "signer_infos": []})}).dump()
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
