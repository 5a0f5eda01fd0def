"""Generic documents: uploads checked by content (not by name), cleaned names, kept versions, PDF preview.

Accepted: PDF, Word (DOCX, and DOC by its OLE2 header), ODT, XLSX, PNG, JPEG, GIF, WebP. The kind is
decided by the bytes: magic numbers, and for the zip formats the entries inside the archive (and
no macros). The name the user gave is only used, cleaned, as the file name in the e-mail, with
the extension of the detected kind.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

from flask import current_app

from ..extensions import db
from ..models import GenericDocument, GenericDocumentVersion, User
from .archive_bounds import MAX_UNPACKED_BYTES, unpacked_size
from .audit import audit
from .blobs import store_blob

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
KINDS: dict[str, tuple[str, str, str]] = {  # kind -> (extension, content type, label)
    "pdf": ("pdf", "application/pdf", "PDF"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word"),
    "doc": ("doc", "application/msword", "Word 97-2003"),
    "odt": ("odt", "application/vnd.oasis.opendocument.text", "OpenDocument"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel"),
    "png": ("png", "image/png", "Immagine PNG"),
    "jpeg": ("jpg", "image/jpeg", "Immagine JPEG"),
    "gif": ("gif", "image/gif", "Immagine GIF"),
    "webp": ("webp", "image/webp", "Immagine WebP"),
}
ACCEPT = ".pdf,.doc,.docx,.odt,.xlsx,.png,.jpg,.jpeg,.gif,.webp"


class UploadError(ValueError):
    """An upload refused (message in Italian)."""


def max_bytes() -> int:
    """Upload limit of one generic document."""
    return int(
        current_app.config.get("GENERIC_DOCUMENT_MAX_BYTES")
        or os.environ.get("GENERIC_DOCUMENT_MAX_BYTES")
        or DEFAULT_MAX_BYTES
    )


def _zip_kind(data: bytes) -> str | None:
    """docx/xlsx/odt from the archive's entries; UploadError for macros or a broken archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if len(names) > 5000:
            raise UploadError("Archivio con troppi elementi: non sembra un documento.")
        unpacked = unpacked_size(archive)
        if unpacked > MAX_UNPACKED_BYTES:  # a zip bomb: bounded as the imports are (archive_bounds)
            raise UploadError(
                f"Il documento, decompresso, supera {MAX_UNPACKED_BYTES // 1048576} MB "
                f"({unpacked // 1048576} MB dichiarati): non sembra un documento da inviare."
            )
        if any(n.lower().endswith("vbaproject.bin") for n in names):
            raise UploadError("Il documento contiene macro: salvalo senza macro (DOCX/XLSX) e riprova.")
        if "mimetype" in names:
            info = archive.getinfo("mimetype")
            if (
                info.file_size < 200
                and archive.read("mimetype").strip() == b"application/vnd.oasis.opendocument.text"
            ):
                return "odt"
        if "[Content_Types].xml" in names:
            if "word/document.xml" in names:
                return "docx"
            if "xl/workbook.xml" in names:
                return "xlsx"
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UploadError("Archivio danneggiato: il file non si può aprire.") from exc
    except NotImplementedError as exc:  # zipfile: an unknown compression method (a RuntimeError: first)
        raise UploadError(
            "Archivio compresso in un modo non supportato: salvalo di nuovo come DOCX, XLSX o ODT."
        ) from exc
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required for extraction"
        raise UploadError("Documento cifrato con una password: salvalo senza password e riprova.") from exc
    return None


def detect_kind(data: bytes, filename: str = "") -> str:
    """The kind of a file from its bytes; UploadError (Italian) when it is not an accepted kind."""
    head = data[:16]
    if data[:1024].lstrip(b"\x00\t\r\n ").startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        kind = _zip_kind(data)
        if kind:
            return kind
        raise UploadError("Archivio ZIP che non è un documento Word, Excel o OpenDocument.")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        if filename.lower().endswith(".doc"):
            return "doc"
        raise UploadError("File Office 97-2003 accettato solo come documento Word (.doc).")
    if head.startswith((b"MZ", b"\x7fELF")) or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        raise UploadError("Il file è un programma eseguibile, non un documento: caricamento rifiutato.")
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in ("pdf", "docx", "doc", "odt", "xlsx", "png", "jpg", "jpeg", "gif", "webp"):
        raise UploadError(f"Il contenuto del file non è un .{ext} valido: caricamento rifiutato.")
    raise UploadError("Tipo di file non ammesso: PDF, Word, ODT, Excel (XLSX) o immagini.")


def clean_filename(name: str, kind: str) -> str:
    """A safe file name: ASCII letters, digits, dot, dash, underscore; the detected kind's extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = base.rsplit(".", 1)[0] if "." in base else base
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:80] or "documento"
    return f"{base}.{KINDS[kind][0]}"


@dataclass
class CheckedFile:
    """An upload that passed the checks."""

    data: bytes
    kind: str
    filename: str

    @property
    def content_type(self) -> str:
        """MIME type of the detected kind."""
        return KINDS[self.kind][1]


def check_upload(data: bytes, filename: str) -> CheckedFile:
    """Size and content checks; UploadError in Italian."""
    if not data:
        raise UploadError("Il file è vuoto.")
    limit = max_bytes()
    if len(data) > limit:
        raise UploadError(
            f"File troppo grande: {len(data) / 1048576:.1f} MB, il limite è {limit / 1048576:.0f} MB."
        )
    kind = detect_kind(data, filename)
    return CheckedFile(data=data, kind=kind, filename=clean_filename(filename, kind))


def create_document(
    title: str, description: str, commercial: bool, upload: CheckedFile, user: User | None, note: str = ""
) -> GenericDocument:
    """A new generic document with its first version (the caller commits)."""
    title = " ".join((title or "").split())[:200]
    if not title:
        raise UploadError("Il titolo è obbligatorio.")
    document = GenericDocument(
        title=title,
        description=(description or "").strip()[:2000],
        commercial=bool(commercial),
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(document)
    db.session.flush()
    add_version(document, upload, user, note)
    audit("generic_document.create", document, user=user, title=title)
    return document


def add_version(
    document: GenericDocument, upload: CheckedFile, user: User | None, note: str = ""
) -> GenericDocumentVersion:
    """Store a new version; older ones stay (campaigns point at the exact version they sent)."""
    sha = store_blob(upload.data, upload.content_type)
    last = (
        db.session.scalar(
            db.select(db.func.max(GenericDocumentVersion.number)).where(
                GenericDocumentVersion.document_id == document.id
            )
        )
        or 0
    )
    version = GenericDocumentVersion(
        document_id=document.id,
        number=last + 1,
        filename=upload.filename,
        kind=upload.kind,
        content_type=upload.content_type,
        size=len(upload.data),
        blob_sha256=sha,
        note=(note or "").strip()[:200],
        uploaded_by_id=getattr(user, "id", None),
    )
    db.session.add(version)
    db.session.flush()
    db.session.expire(document, ["versions"])
    audit("generic_document.version", document, user=user, number=version.number, kind=upload.kind)
    return version


# Page previews: 70 dpi, and never a bitmap wider or taller than this (a poster-sized page would
# otherwise make a bitmap of hundreds of megabytes).
MAX_PREVIEW_SIDE = 1600


def pdf_page_png(data: bytes, page: int = 1, dpi: int = 70) -> bytes | None:
    """One page of a PDF as PNG, rendered in-process by PDFium (the pypdfium2 wheel: no system tool,
    no PDF code reaches the browser); None when the PDF is damaged or the page does not exist."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 — PdfiumError or anything else: a damaged PDF just gets no preview
        return None
    try:
        if not 1 <= page <= len(pdf):
            return None
        pdf_page = pdf[page - 1]
        try:
            width, height = pdf_page.get_size()
            longest = max(width, height, 1.0)
            scale = min(dpi / 72, MAX_PREVIEW_SIDE / longest)
            bitmap = pdf_page.render(scale=scale, may_draw_forms=False)
            image = bitmap.to_pil()
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=False)
            return out.getvalue()
        finally:
            pdf_page.close()
    except Exception:  # noqa: BLE001
        return None
    finally:
        pdf.close()


def pdf_page_count(data: bytes) -> int:
    """Number of pages of a PDF as PDFium (which renders the previews) reads it; 0 when it cannot."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 — a damaged PDF just gets no preview
        return 0
    try:
        return len(pdf)
    finally:
        pdf.close()
