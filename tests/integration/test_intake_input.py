"""Issue 14.11: what FatturaPA and the API let through is refused at intake, naming the file/field.

A PEC address that is not an address, a Numero longer than the column (cut, two numbers could
collide), programs and HTML as invoice attachments, line breaks in names and numbers (the delivery
later fails with «embedded header»).
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from mailer.extensions import db
from tests.support.documents import DOCX_PARTS, bearer, make_party, zip_bomb

SAMPLE = "IT01234567890_FPR02.xml"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
    + b"\x00" * 64
    + b"This program cannot be run in DOS mode"
)
HTML = b"<!DOCTYPE html><html><body><script>location='https://phish.example'</script></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _sample(samples_dir) -> str:
    """The FPR02 sample as text (one invoice 123/2014 to BETA GAMMA, PEC betagamma@pec.it)."""
    return (samples_dir / "fatturapa" / SAMPLE).read_text(encoding="utf-8")


def _with_attachment(xml: str, name: str, content: bytes) -> str:
    """The sample with one Allegati element in its body."""
    allegato = (
        f"<Allegati><NomeAttachment>{name}</NomeAttachment>"
        f"<Attachment>{base64.b64encode(content).decode()}</Attachment></Allegati>"
    )
    return xml.replace("</FatturaElettronicaBody>", allegato + "</FatturaElettronicaBody>")


def _customer_named(xml: str, name: str) -> str:
    """The sample with the customer's Denominazione changed (the supplier's stays)."""
    head, tail = xml.split("<CessionarioCommittente>", 1)
    return (
        head
        + "<CessionarioCommittente>"
        + tail.replace("<Denominazione>BETA GAMMA<", f"<Denominazione>{name}<", 1)
    )


def _variants(xml: str) -> dict[str, tuple[str, str]]:
    """name -> (changed XML, words the refusal must contain)."""
    return {
        "pec": (xml.replace("betagamma@pec.it", "not-an-email"), "PECDestinatario «not-an-email»"),
        "long_number": (
            xml.replace("<Numero>123</Numero>", f"<Numero>{'7' * 5000}</Numero>"),
            "5000 caratteri",
        ),
        "number_line_break": (
            xml.replace("<Numero>123</Numero>", "<Numero>12\r\nBcc: x@evil.example</Numero>"),
            "a capo",
        ),
        "name_line_break": (_customer_named(xml, "BETA\nBcc: x@evil.example"), "a capo"),
        "exe": (_with_attachment(xml, "fattura.exe", EXE), "«fattura.exe» rifiutato: Il file è un programma"),
        "html": (_with_attachment(xml, "dettaglio.html", HTML), "«dettaglio.html» rifiutato"),
        "html_named_pdf": (_with_attachment(xml, "fattura.pdf", HTML), "«fattura.pdf» rifiutato"),
    }


@pytest.mark.parametrize(
    "variant", ["pec", "long_number", "number_line_break", "name_line_break", "exe", "html", "html_named_pdf"]
)
def test_fatturapa_cli_refuses_hostile_content(runner, samples_dir, tmp_path, app, variant):
    """Each hostile variant of a real sample is refused with the file named and nothing written."""
    from mailer.models import Contact, Document, DocumentAttachment

    xml, words = _variants(_sample(samples_dir))[variant]
    path = tmp_path / f"{variant}.xml"
    path.write_text(xml, encoding="utf-8")
    result = runner.invoke(args=["import-fatturapa", str(path), "--json"])
    assert result.exit_code == 1, result.output
    [row] = [json.loads(line) for line in result.output.strip().splitlines()]
    assert row["file"] == str(path) and words in row["error"], row
    with app.app_context():
        for model in (Document, Contact, DocumentAttachment):
            assert db.session.scalar(db.select(db.func.count()).select_from(model)) == 0


def test_fatturapa_upload_names_the_attachment(client, auth, samples_dir):
    """The upload page shows the refusal with the file and the attachment named."""
    import io

    auth.login("operator")
    xml, _ = _variants(_sample(samples_dir))["exe"]
    response = client.post(
        "/documenti/import",
        data={"files": [(io.BytesIO(xml.encode()), "ft-123.xml")]},
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "ft-123.xml" in text and "fattura.exe" in text


def test_fatturapa_good_attachment_still_imported(app_ctx, samples_dir):
    """A real image attachment passes the same checks; its name keeps the detected kind's extension."""
    from mailer.models import Document
    from mailer.services.fatturapa import import_fatturapa

    xml = _with_attachment(_sample(samples_dir), "logo", PNG)
    [summary] = import_fatturapa(xml.encode(), "ok.xml")
    db.session.commit()
    [attachment] = db.session.get(Document, summary["_document_id"]).attachments
    assert attachment.filename == "logo.png" and attachment.blob.content_type == "image/png"


# ---------------------------------------------------------------- API


DOC = {
    "type": "FATTURA",
    "number": "2024/15",
    "date": "2024-03-15",
    "party_code": "C0001",
    "lines": [{"description": "Viti inox\nin acciaio A2", "quantity": "10", "unit_price": "2.50"}],
}


@pytest.fixture
def token(make_token, app):
    """A token with every scope; party C0001 exists."""
    with app.app_context():
        make_party("C0001")
        db.session.commit()
    return make_token(clearance=1)


def _b64(data: bytes) -> str:
    """Base64 text of bytes."""
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({**DOC, "number": "2024/15\r\nBcc: x@evil.example"}, "number", "a capo"),
        ({**DOC, "number": "2024/15\n"}, None, None),  # a trailing newline is trimmed, as other spaces
        ({**DOC, "number": "9" * 5000}, "number", "al massimo 40"),
        ({**DOC, "party_code": "C0001\nX"}, "party_code", "a capo"),
        (
            {**DOC, "attachments": [{"filename": "setup.exe", "content_base64": _b64(EXE)}]},
            "attachments[0]",
            "programma",
        ),
        (
            {**DOC, "attachments": [{"filename": "info.html", "content_base64": _b64(HTML)}]},
            "attachments[0]",
            "info.html",
        ),
        (
            {
                **DOC,
                "attachments": [
                    {"filename": "ok.png", "content_base64": _b64(PNG)},
                    {"filename": "x.pdf", "content_base64": _b64(HTML)},
                ],
            },
            "attachments[1]",
            "x.pdf",
        ),
        ({**DOC, "attachments": [{"filename": "a.png", "content_base64": "@@"}]}, "attachments[0]", "base64"),
        ({**DOC, "attachments": "a.png"}, "attachments", "lista"),
    ],
)
def test_api_document_refuses_hostile_fields(client, token, app, payload, field, words):
    """Line breaks, over-long numbers and refused attachments: 422 naming the field; nothing written."""
    from mailer.models import Document

    response = client.post("/api/v1/documents", json=payload, headers=bearer(token))
    if field is None:
        assert response.status_code == 201 and response.get_json()["number"] == "2024/15"
        return
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["fields"]
    assert field in fields and words in fields[field], fields
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_api_document_attachments_are_stored(client, token):
    """A checked attachment is kept with the document, under a clean name with its real kind."""
    payload = {**DOC, "attachments": [{"filename": "schema montaggio.png", "content_base64": _b64(PNG)}]}
    response = client.post("/api/v1/documents", json=payload, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    assert [a["filename"] for a in response.get_json()["attachments"]] == ["schema_montaggio.png"]


@pytest.mark.parametrize(
    "url, payload, field",
    [
        ("/api/v1/parties", {"code": "C0009", "name": "Rossi S.r.l.\r\nBcc: x@evil.example"}, "name"),
        ("/api/v1/parties", {"code": "C00\n09", "name": "Rossi S.r.l."}, "code"),
        ("/api/v1/parties/C0001/contacts", {"name": "Mario\nRossi", "email": "mario@rossi.example"}, "name"),
    ],
)
def test_api_names_with_line_breaks_are_refused(client, token, url, payload, field):
    """A name with a line break would end up in a header: refused with the field named."""
    response = client.post(url, json=payload, headers=bearer(token))
    assert response.status_code == 422
    assert re.search("a capo", response.get_json()["fields"][field])


# ---------------------------------------------------------------- 14.12: zip bombs


@pytest.fixture(scope="module")
def docx_bomb():
    """A DOCX of a few hundred KB that unpacks beyond the imports' bound."""
    from mailer.services.archive_bounds import MAX_UNPACKED_BYTES

    return zip_bomb(DOCX_PARTS, "word/media/image1.bin", MAX_UNPACKED_BYTES + (16 << 20))


def test_generic_document_zip_bomb_refused_on_the_page(client, auth, app, docx_bomb):
    """The generic documents page refuses the bomb next to the file field; nothing is stored."""
    import io

    from mailer.models import GenericDocument

    auth.login("sales")
    form = {"title": "Listino", "file": (io.BytesIO(docx_bomb), "listino.docx")}
    response = client.post("/campagne/documenti", data=form, content_type="multipart/form-data")
    assert response.status_code == 400 and "decompresso" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(GenericDocument.id))) == 0


def test_api_attachment_zip_bomb_refused(client, token, docx_bomb):
    """The same bound applies to a document's attachment sent through the API."""
    payload = {**DOC, "attachments": [{"filename": "manuale.docx", "content_base64": _b64(docx_bomb)}]}
    response = client.post("/api/v1/documents", json=payload, headers=bearer(token))
    assert response.status_code == 422 and "decompresso" in response.get_json()["fields"]["attachments[0]"]
