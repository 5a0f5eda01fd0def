"""PDF rendering with the real wkhtmltopdf: every type, text, reproducible bytes, batches, access."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from mailer.extensions import db
from mailer.reference import DOCUMENT_TYPE_CODES
from tests.support.documents import make_invoice, make_party


def text_of(pdf: bytes) -> str:
    """The PDF's text, whitespace collapsed."""
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


EXTRA = {
    "ESTRATTO_CONTO": {
        "open_items": [
            {
                "date": "2024-01-10",
                "number": "F1",
                "description": "Fattura",
                "due_date": "2024-02-10",
                "amount": "1000.00",
            },
            {"date": "2024-02-01", "number": "NC2", "description": "Nota di credito", "amount": "-200.00"},
            {"date": "2024-02-15", "number": "F3", "description": "Fattura", "debit": "350.50"},
        ]
    },
    "INSOLUTO": {
        "overdue_items": [
            {"number": "F1", "date": "2024-01-10", "due_date": "2024-02-10", "amount": "1000.00"},
            {"number": "F9", "date": "2024-01-20", "due_date": "2024-02-20", "amount": "234.56"},
        ]
    },
    "DICHIARAZIONE_INTENTO": {"protocol": "24031512345678-000001", "ceiling": "150000.00", "period": "2024"},
    "GENERICO": {
        "title": "Listino prezzi",
        "subject": "Nuovo listino",
        "body": "Gentile cliente,\n\nin allegato.",
    },
}


@pytest.mark.parametrize("type_code", DOCUMENT_TYPE_CODES)
def test_every_type_renders_in_italian(app_ctx, type_code):
    """Each of the 12 types has its template; number and party appear, plus the type's own content."""
    from mailer.pdf import render_document_pdf

    party = make_party()
    document = make_invoice(party, number="2024/77", lines=3, type_code=type_code, **EXTRA.get(type_code, {}))
    db.session.commit()
    text = text_of(render_document_pdf(document))
    assert "2024/77" in text and "Rossi Forniture" in text and "15/03/2024" in text
    expected = {
        "FATTURA": ["Copia di cortesia", "non costituisce documento fiscale", "Totale documento", "91,50 €"],
        "NOTA_CREDITO": ["Nota di credito", "Copia di cortesia"],
        "DDT": ["Documento di trasporto", "Causale del trasporto"],
        "ESTRATTO_CONTO": ["Saldo progressivo", "800,00", "1.150,50"],
        "INSOLUTO": ["Sollecito di pagamento", "1.234,56"],
        "DICHIARAZIONE_INTENTO": ["24031512345678-000001", "150.000,00"],
        "GENERICO": ["Listino prezzi", "Nuovo listino"],
        "OFFERTA": ["Offerta", "Totale offerta"],
        "ORDINE_CLIENTE": ["Conferma d'ordine"],
        "ORDINE_FORNITORE": ["Ordine fornitore"],
        "ENTRATA_MERCE": ["Entrata merce"],
        "AVVISO_BONIFICO": ["Avviso di bonifico"],
    }[type_code]
    for snippet in expected:  # headings are upper-cased by CSS, hence the case-insensitive check
        assert snippet.lower() in text.lower(), (snippet, text[:400])


def test_same_document_same_bytes_alone_or_in_a_batch(app_ctx):
    """Rendering is reproducible: no timestamps, and a batch gives each document its own identical file."""
    from mailer.pdf import render_document_pdf, render_documents

    party = make_party()
    docs = [make_invoice(party, number=str(n), lines=5 + n) for n in range(1, 6)]
    db.session.commit()
    alone = render_document_pdf(docs[2])
    again = render_document_pdf(docs[2])
    batch = render_documents(docs)
    assert alone == again == batch[2]
    assert b"/CreationDate (D:20240315000000" in alone
    for n, pdf in enumerate(batch, start=1):
        assert f"Numero {n} " in text_of(pdf) or f"Numero {n}" in text_of(pdf)
        assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1


def test_long_document_spans_pages_and_stays_whole(app_ctx):
    """A 120-line invoice gets several pages in its own PDF, with the total on the last one."""
    from mailer.pdf import render_documents

    party = make_party()
    short = make_invoice(party, number="S1", lines=2)
    long = make_invoice(party, number="L1", lines=120)
    db.session.commit()
    pdf_short, pdf_long = render_documents([short, long])
    assert len(PdfReader(io.BytesIO(pdf_short)).pages) == 1
    reader = PdfReader(io.BytesIO(pdf_long))
    assert len(reader.pages) >= 3
    assert "Totale documento" in " ".join(reader.pages[-1].extract_text().split())


def test_local_files_cannot_be_read(app_ctx):
    """Local file access is off: an <img>/<iframe> pointing at a local file shows nothing of it."""
    from mailer.pdf import html_to_pdfs

    html = '<html><body><p>prima</p><iframe src="file:///etc/passwd"></iframe><img src="file:///etc/hostname"></body></html>'
    [pdf] = html_to_pdfs([html])
    text = text_of(pdf)
    assert "prima" in text and "root:" not in text


def test_ensure_pdfs_stores_missing_and_keeps_existing(app_ctx):
    """ensure_pdfs renders only documents without a PDF and keeps what exists (the ERP's own PDF)."""
    from mailer.models import Blob, Document
    from mailer.pdf import ensure_pdfs
    from mailer.services.blobs import store_blob

    party = make_party()
    a = make_invoice(party, number="A")
    b = make_invoice(party, number="B")
    b.pdf_sha256 = store_blob(b"%PDF-1.4 erp", "application/pdf")
    db.session.commit()
    result = ensure_pdfs([a.id, b.id, 99999])
    assert set(result) == {a.id, b.id}
    assert db.session.get(Document, a.id).pdf_rendered is True
    assert db.session.get(Blob, result[b.id]).data == b"%PDF-1.4 erp"
    assert ensure_pdfs([a.id]) == {a.id: result[a.id]}


def test_company_logo_embedded_as_data_uri(app_ctx):
    """The company logo comes from the settings, inlined (no file access needed)."""
    from mailer.pdf import render_document_html
    from mailer.services.blobs import store_blob
    from mailer.services.reference import get_company

    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    company = get_company()
    company.logo_sha256 = store_blob(png, "image/png")
    company.name = "Acme Italia S.p.A."
    party = make_party()
    document = make_invoice(party, number="LOGO")
    db.session.commit()
    html = render_document_html(document)
    assert 'src="data:image/png;base64,' in html and "Acme Italia S.p.A." in html


def test_documents_page_filters_and_preview_permissions(client, auth, make_user, app):
    """List with filters; the PDF preview is inline application/pdf; without permission: 403."""
    with app.app_context():
        party = make_party()
        make_invoice(party, number="F-1")
        ddt = make_invoice(party, number="D-1", type_code="DDT")
        db.session.commit()
        ddt_id = ddt.id
    auth.login("op", roles=["operator"], send_types=["FATTURA"])
    page = client.get("/documenti/").get_data(as_text=True)
    assert "F-1" in page and "D-1" not in page  # DDT not among the types this user handles
    assert client.get(f"/documenti/{ddt_id}/pdf").status_code == 403
    assert client.get(f"/documenti/{ddt_id}").status_code == 403
    fragment = client.get(
        "/documenti/?sent=yes", headers={"HX-Request": "true", "HX-Target": "documents-table"}
    )
    assert "Nessun documento" in fragment.get_data(as_text=True) and "<html" not in fragment.get_data(
        as_text=True
    )
    from mailer.models import Document

    with app.app_context():
        fid = db.session.scalar(db.select(Document.id).where(Document.number == "F-1"))
    pdf = client.get(f"/documenti/{fid}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("inline")
    assert "F-1" in text_of(pdf.data)


def test_documents_page_needs_office_role(client, auth):
    """Sales users do not see the documents area."""
    auth.login("sales")
    assert client.get("/documenti/").status_code == 403


def fonts_of(pdf: bytes) -> set[str]:
    """BaseFont names of the fonts embedded in a PDF."""
    import re

    return {m.decode() for m in re.findall(rb"/BaseFont /([A-Za-z0-9+-]+)", pdf)}


def test_same_bytes_whatever_the_batch_process_or_position(app_ctx, app):
    """A document's PDF does not depend on its neighbours (also ones using other glyphs), on how many
    processes render the batch, nor on its position in it; each PDF has exactly its own pages and text."""
    from mailer.pdf import render_document_pdf, render_documents

    plain = make_party()
    odd = make_party(code="C0002", name="Đorđević Ωmega Жук Ærø Ça§ € ¾")  # other glyphs in the subset fonts
    docs = [
        make_invoice(plain, number="Q-1001", lines=3),
        make_invoice(odd, number="Q-1002", lines=60),  # several pages
        make_invoice(plain, number="Q-1003", lines=12),
        make_invoice(odd, number="Q-1004", lines=1),
    ]
    db.session.commit()
    alone = [render_document_pdf(d) for d in docs]
    pages_alone = [len(PdfReader(io.BytesIO(p)).pages) for p in alone]
    assert pages_alone[1] >= 2 and pages_alone[0] == 1
    for processes in (1, 2, 3):
        app.config["PDF_PROCESSES"] = processes
        for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3], [2, 0, 2]):
            batch = render_documents([docs[i] for i in order])
            assert [alone[i] for i in order] == batch, (processes, order)
    for i, pdf in enumerate(alone):
        text = text_of(pdf)
        assert f"Q-100{i + 1}" in text and "Totale documento" in text
        assert not any(f"Q-100{j + 1}" in text for j in range(4) if j != i)
    assert "Đorđević Ωmega Жук Ærø Ça§" in text_of(alone[1])


def test_pdfs_embed_the_unhinted_subset_fonts_with_fallback(app_ctx):
    """The templates' text is set in Recapito Sans (ours, shipped); a character outside its subset falls
    back to DejaVu Sans and is not lost."""
    from mailer.pdf import html_to_pdfs, render_document_pdf

    party = make_party()
    document = make_invoice(party, number="F-FONT", lines=2)
    db.session.commit()
    assert fonts_of(render_document_pdf(document)) == {"RecapitoSans", "RecapitoSans-Bold"}
    html = (
        "<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: 'Recapito Sans', 'DejaVu Sans'\">"
        "<p>Prezzo 10 € – Armeno: Աբգ</p></body></html>"
    )
    [pdf] = html_to_pdfs([html])
    assert {"RecapitoSans", "DejaVuSans"} <= fonts_of(pdf)
    assert "Prezzo 10 € – Armeno: Աբգ" in text_of(pdf)


def test_pages_can_be_streamed_from_a_generator(app_ctx):
    """html_to_pdfs takes a generator (pages are converted while the next ones are produced)."""
    from mailer.pdf import html_to_pdfs

    produced = []

    def pages():
        for n in range(5):
            produced.append(n)
            yield f"<html><body><p>Pagina numero {n}</p></body></html>"

    pdfs = html_to_pdfs(pages(), processes=2)
    assert produced == [0, 1, 2, 3, 4] and len(pdfs) == 5
    for n, pdf in enumerate(pdfs):
        assert f"Pagina numero {n}" in text_of(pdf)
    assert html_to_pdfs(iter([])) == []


def test_a_failing_wkhtmltopdf_is_reported(app_ctx, tmp_path):
    """A converter that dies is an error naming its exit code, never a silently missing PDF."""
    from mailer.pdf import PdfRenderError, html_to_pdfs

    fake = tmp_path / "wkhtmltopdf"
    fake.write_text("#!/bin/sh\necho 'rotto' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(PdfRenderError, match="codice 3"):
        html_to_pdfs([f"<p>{n}</p>" * 2000 for n in range(300)], binary=str(fake))
    with pytest.raises(PdfRenderError, match="codice 3"):
        html_to_pdfs(["<p>uno</p>"], binary=str(fake))


def test_an_error_while_producing_pages_leaves_no_process_or_file(app_ctx, tmp_path, monkeypatch):
    """A page that cannot be produced (e.g. a template error) stops the run: the converters already
    started are ended and the temporary folder is removed."""
    import os
    import tempfile

    from mailer.pdf import html_to_pdfs

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def pages():
        yield "<p>uno</p>"
        yield "<p>due</p>"
        raise ValueError("modello rotto")

    with pytest.raises(ValueError, match="modello rotto"):
        html_to_pdfs(pages(), processes=2)
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/comm") as handle:
                    name = handle.read().strip()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and name.startswith("wkhtmltopdf"):
                children.append(entry)
    assert children == [] and list(scratch.iterdir()) == []
