"""Generic documents through the pages: upload checked by content, size limit, versions, preview."""
from __future__ import annotations

import io
import re

import pytest

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
    response = _upload(client, PDF_BYTES + b"% v2\n", "listino-v2.pdf", url=f"/campagne/documenti/{doc_id}",
                       action="version", note="prezzi aggiornati")
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


def test_pdf_preview_is_an_image(app, client, auth):
    """The preview of a PDF page is a PNG made on the server (no PDF code runs in the browser)."""
    import shutil
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm assente")
    from mailer.pdf import engine  # noqa: F401  (wkhtmltopdf is what the app uses: make a real PDF with it)
    import subprocess
    pdf = subprocess.run(["wkhtmltopdf", "-q", "-", "-"], input=b"<h1>Listino</h1>", capture_output=True).stdout
    auth.login("giulia", roles=["sales"])
    response = _upload(client, pdf, "listino.pdf")
    doc_id = int(re.search(r"/documenti/(\d+)", response.headers["Location"]).group(1))
    with app.app_context():
        version_id = db.session.scalar(db.select(GenericDocumentVersion.id))
    page = client.get(f"/campagne/documenti/{doc_id}").get_data(as_text=True)
    assert f"/versioni/{version_id}/pagina-1.png" in page
    response = client.get(f"/campagne/documenti/{doc_id}/versioni/{version_id}/pagina-1.png")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
