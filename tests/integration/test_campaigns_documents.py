"""Generic documents through the pages: upload checked by content, size limit, versions, preview."""

from __future__ import annotations

import io
import re

from mailer.extensions import db
from mailer.models import GenericDocument, GenericDocumentVersion
from tests.support.campaigns import PDF_BYTES


def _upload(client, data, name, url="/campagne/documenti", **fields):
    """POST a file."""
    form = {"title": "Listino", "commercial": "1", **fields, "file": (io.BytesIO(data), name)}
    return client.post(url, data=form, content_type="multipart/form-data")


def test_upload_versions_and_download(app, client, auth):
    """Upload, then a new version: both kept, the latest is current, files download as attachments."""
    auth.login("giulia", roles=["sales"])
    response = _upload(client, PDF_BYTES, "Listino 2027 (bozza).pdf")
    assert response.status_code == 302
    doc_id = int(re.search(r"/documenti/(\d+)", response.headers["Location"]).group(1))
    response = _upload(
        client,
        PDF_BYTES + b"% v2\n",
        "listino-v2.pdf",
        url=f"/campagne/documenti/{doc_id}",
        action="version",
        note="prezzi aggiornati",
    )
    assert response.status_code == 302
    with app.app_context():
        document = db.session.get(GenericDocument, doc_id)
        assert [v.number for v in document.versions] == [2, 1]
        assert document.versions[1].filename == "Listino_2027_bozza.pdf"
        first = document.versions[1].id
    page = client.get(f"/campagne/documenti/{doc_id}").get_data(as_text=True)
    assert "prezzi aggiornati" in page and "v1" in page and "v2" in page
    response = client.get(f"/campagne/documenti/{doc_id}/versioni/{first}/file")
    assert response.data == PDF_BYTES and response.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_exe_named_pdf_is_refused(app, client, auth):
    """A program renamed .pdf is refused with a message next to the field, and nothing is stored."""
    auth.login("giulia", roles=["sales"])
    response = _upload(client, b"MZ\x90\x00\x03" + b"\0" * 200, "listino.pdf")
    assert response.status_code == 400
    assert "programma eseguibile" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(GenericDocumentVersion.id))) == 0


def test_size_limit(app, client, auth):
    """Above the limit the upload is refused in Italian."""
    app.config["GENERIC_DOCUMENT_MAX_BYTES"] = 1024
    auth.login("giulia", roles=["sales"])
    response = _upload(client, PDF_BYTES + b"0" * 2048, "grande.pdf")
    assert response.status_code == 400 and "File troppo grande" in response.get_data(as_text=True)


def _wkhtmltopdf(html: bytes) -> bytes:
    """A real PDF made by wkhtmltopdf (what the app uses)."""
    import subprocess

    return subprocess.run(["wkhtmltopdf", "-q", "-", "-"], input=html, capture_output=True, check=True).stdout


def _uploaded_pdf(app, client, pdf: bytes, name: str) -> tuple[int, int]:
    """Upload a PDF as a new document: (document id, version id)."""
    response = _upload(client, pdf, name)
    assert response.status_code == 302
    doc_id = int(re.search(r"/documenti/(\d+)", response.headers["Location"]).group(1))
    with app.app_context():
        return doc_id, db.session.scalar(db.select(GenericDocumentVersion.id))


def test_pdf_preview_is_an_image(app, client, auth, monkeypatch):
    """The preview of a PDF page is a PNG made on the server (no PDF code runs in the browser), with no
    system tool: the PATH holds nothing (no pdftoppm), the Python wheel renders it."""
    pdf = _wkhtmltopdf(b"<h1>Listino</h1>")
    monkeypatch.setenv("PATH", "/nonexistent")
    auth.login("giulia", roles=["sales"])
    doc_id, version_id = _uploaded_pdf(app, client, pdf, "listino.pdf")
    page = client.get(f"/campagne/documenti/{doc_id}").get_data(as_text=True)
    assert f"/versioni/{version_id}/pagina-1.png" in page
    response = client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-1.png")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
    from PIL import Image

    image = Image.open(io.BytesIO(response.data))
    assert image.format == "PNG" and 500 <= image.width <= 700 and image.height > image.width  # A4 at 70 dpi
    assert image.convert("L").getextrema()[0] < 100  # something is drawn, not a blank page
    # Only the pages that exist, and at most the first five.
    assert client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-2.png").status_code == 404
    assert client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-6.png").status_code == 404


def test_pdf_preview_page_count_bounds(app, client, auth, monkeypatch):
    """A 7-page PDF shows five page images and says so; each renders without system tools."""
    pdf = _wkhtmltopdf(
        b"<h1>Pagina 1</h1>"
        + b"".join(b'<h1 style="page-break-before: always">Pagina %d</h1>' % i for i in range(2, 8))
    )
    monkeypatch.setenv("PATH", "/nonexistent")
    auth.login("giulia", roles=["sales"])
    doc_id, version_id = _uploaded_pdf(app, client, pdf, "catalogo.pdf")
    page = client.get(f"/campagne/documenti/{doc_id}").get_data(as_text=True)
    assert page.count("pagina-") == 5 and "Mostrate le prime 5 pagine di 7." in page
    for number in (1, 5):
        response = client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-{number}.png")
        assert response.status_code == 200 and response.data.startswith(b"\x89PNG")


def test_damaged_pdf_preview_says_so(app, client, auth):
    """A damaged PDF (right header, broken body) gets an Italian message instead of broken images,
    and its page address answers 404, not an error."""
    damaged = _wkhtmltopdf(b"<h1>Listino</h1>")[:300]
    auth.login("giulia", roles=["sales"])
    doc_id, version_id = _uploaded_pdf(app, client, damaged, "rotto.pdf")
    page = client.get(f"/campagne/documenti/{doc_id}").get_data(as_text=True)
    assert "non si può mostrare in anteprima" in page and "pagina-1.png" not in page
    assert client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-1.png").status_code == 404
