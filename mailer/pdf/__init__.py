"""HTML → PDF: one Italian template per document type, rendered fast and reproducibly.

Other areas call:
- ``ensure_pdfs(document_ids) -> {id: sha256}``: renders and stores the missing PDFs (Blob).
- ``render_document_pdf(document) -> bytes`` / ``render_documents(documents) -> [bytes]``.
- ``render_document_html(document) -> str``: the same page as HTML.
"""

from .engine import PdfRenderError, html_to_pdfs, normalise_pdf
from .render import (
    TEMPLATES,
    build_context,
    ensure_pdfs,
    render_document_html,
    render_document_pdf,
    render_documents,
)

__all__ = [
    "TEMPLATES",
    "PdfRenderError",
    "build_context",
    "ensure_pdfs",
    "html_to_pdfs",
    "normalise_pdf",
    "render_document_html",
    "render_document_pdf",
    "render_documents",
]
