"""Generic document uploads: kind decided by content, names cleaned (pure functions)."""

from __future__ import annotations

import io
import zipfile

import pytest

from mailer.services.generic_documents import UploadError, clean_filename, detect_kind
from tests.support.documents import zip_bomb


def _zip(entries: dict[str, bytes]) -> bytes:
    """A zip archive with the given entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
ODT = _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"})


@pytest.mark.parametrize(
    "data, name, kind",
    [
        (b"%PDF-1.7\n...", "listino.pdf", "pdf"),
        (b"%PDF-1.4\n...", "listino.docx", "pdf"),  # the content wins over the name
        (DOCX, "offerta.docx", "docx"),
        (XLSX, "prezzi.xlsx", "xlsx"),
        (ODT, "avviso.odt", "odt"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "vecchio.doc", "doc"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "logo.png", "png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "foto.jpg", "jpeg"),
        (b"GIF89a" + b"\0" * 20, "a.gif", "gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "a.webp", "webp"),
    ],
)
def test_kind_by_content(data, name, kind):
    """Accepted kinds are recognised by their bytes."""
    assert detect_kind(data, name) == kind


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"MZ\x90\x00" + b"\0" * 60, "listino.pdf", "eseguibile"),  # a Windows program named .pdf
        (b"\x7fELF\x02\x01", "listino.pdf", "eseguibile"),
        (b"<html><script>alert(1)</script>", "listino.pdf", "non è un .pdf valido"),
        (b"just text", "note.txt", "Tipo di file non ammesso"),
        (_zip({"evil.exe": b"MZ"}), "listino.docx", "non è un documento Word"),
        (
            _zip({"[Content_Types].xml": b"", "word/document.xml": b"", "word/vbaProject.bin": b""}),
            "m.docx",
            "macro",
        ),
        (b"PK\x03\x04garbage", "a.docx", "danneggiato"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "foglio.xls", "solo come documento Word"),
    ],
)
def test_refused_by_content(data, name, message):
    """Files whose bytes are not an accepted document are refused, whatever their name."""
    with pytest.raises(UploadError) as info:
        detect_kind(data, name)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "name, kind, cleaned",
    [
        ("Listino prezzi 2027.pdf", "pdf", "Listino_prezzi_2027.pdf"),
        ("../../etc/passwd", "pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Offerta è già.docx", "docx", "Offerta_e_gia.docx"),
        ("listino.pdf.exe", "pdf", "listino.pdf.pdf"),
        ("???.png", "png", "documento.png"),
        ("photo.JPG", "jpeg", "photo.jpg"),
        ("a" * 300 + ".pdf", "pdf", "a" * 80 + ".pdf"),
    ],
)
def test_names_cleaned(name, kind, cleaned):
    """Only safe characters, no path, the detected kind's extension."""
    assert clean_filename(name, kind) == cleaned


@pytest.mark.parametrize(
    "base, bomb_entry",
    [
        (
            {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"},
            "word/media/image1.bin",
        ),
        ({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}, "xl/worksheets/sheet1.xml"),
    ],
)
def test_zip_bomb_documents_are_refused(base, bomb_entry, monkeypatch):
    """Issue 14.12: a DOCX or XLSX that unpacks beyond the imports' bound is refused (bound lowered to 16 MB
    here to keep the test quick; tests/integration/test_intake_input.py uses a real 216 MB one)."""
    from mailer.services import generic_documents

    monkeypatch.setattr(generic_documents, "MAX_UNPACKED_BYTES", 16 << 20)
    data = zip_bomb(base, bomb_entry, 24 << 20)
    assert len(data) < 100_000  # a few KB that would unpack to 24 MB
    with pytest.raises(UploadError) as info:
        detect_kind(data, "listino.docx")
    assert "decompresso" in str(info.value) and "16 MB" in str(info.value)


def test_document_within_the_bound_is_accepted(monkeypatch):
    """A document that unpacks below the bound (real pictures and text) is still accepted."""
    from mailer.services import generic_documents

    monkeypatch.setattr(generic_documents, "MAX_UNPACKED_BYTES", 16 << 20)
    data = zip_bomb(
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"},
        "word/media/image1.bin",
        8 << 20,
    )
    assert detect_kind(data, "offerta.docx") == "docx"


def _blank_pdf(width_pt: float, height_pt: float, pages: int = 1) -> bytes:
    """A PDF of blank pages of the given size (points)."""
    import io as _io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width_pt, height=height_pt)
    out = _io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_page_png_size_is_bounded():
    """A page of 5 × 5 metres is not rendered at 70 dpi (a 14 000-pixel bitmap): the longest side is capped."""
    from PIL import Image

    from mailer.services.generic_documents import MAX_PREVIEW_SIDE, pdf_page_png

    png = pdf_page_png(_blank_pdf(72 * 200, 72 * 100))
    assert png is not None and png.startswith(b"\x89PNG")
    image = Image.open(__import__("io").BytesIO(png))
    assert image.width == MAX_PREVIEW_SIDE and image.height == MAX_PREVIEW_SIDE // 2


def test_pdf_page_png_bounds_and_garbage():
    """Pages outside the document and bytes that are not a PDF give None (no exception)."""
    from mailer.services.generic_documents import pdf_page_count, pdf_page_png

    pdf = _blank_pdf(595, 842, pages=2)
    assert pdf_page_count(pdf) == 2
    assert pdf_page_png(pdf, 2) is not None
    assert pdf_page_png(pdf, 3) is None and pdf_page_png(pdf, 0) is None
    assert pdf_page_png(b"%PDF-1.4 rotto") is None and pdf_page_count(b"%PDF-1.4 rotto") == 0
