"""Rendering an e-mail from a saved version or from unsaved text, signature included."""

from __future__ import annotations

from dataclasses import dataclass

import html2text
from markupsafe import Markup

from ...extensions import db
from ...models import MailAccount, TemplateVersion
from .checker import compile_checked, compiled, render_error
from .context import sample_context
from .errors import TemplateError
from .sandbox import run
from .signatures import signature_for
from .versions import current_version


@dataclass(frozen=True)
class RenderedMail:
    """A rendered e-mail: subject, HTML body and plain-text body (signature included), and its version."""

    subject: str
    html: str
    text: str
    version_id: int | None


def html_to_text(html: str) -> str:
    """Plain text from HTML (links kept, no line wrapping)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.pad_tables = True
    return converter.handle(html).strip() + "\n"


def render_source(field: str, source: str, context: dict) -> str:
    """Render one field's text ("subject", "body_html" or "body_text") in the sandbox, within the bounds.

    Raises TemplateValidationError when the text does not pass the save-time checks."""
    return run(compiled(field, source), context)


def render_version(
    version: TemplateVersion, context: dict, account: MailAccount | None = None, signature: bool = True
) -> RenderedMail:
    """Render a saved version with a context; the account's signature is appended to both bodies."""
    subject = " ".join(run(compiled("subject", version.subject), context).split())[:500]
    html = run(compiled("body_html", version.body_html), context).strip()
    notice = context.get("avviso_sdi") or ""
    if notice and "avviso_sdi" not in version.body_html:  # the rules want it said: a text saved without it
        html += f"\n<p>{Markup.escape(notice)}</p>"
    if version.body_text.strip():
        text = run(compiled("body_text", version.body_text), context).strip() + "\n"
        if notice and "avviso_sdi" not in version.body_text:
            text += f"\n{notice}\n"
    else:
        text = html_to_text(html)
    if signature:
        if account is None and context.get("mittente", {}).get("account_id"):
            account = db.session.get(MailAccount, context["mittente"]["account_id"])
        sig = signature_for(account)
        html = f'{html}\n<div class="firma">\n{sig}\n</div>'
        text = f"{text}\n-- \n{html_to_text(sig)}"
    return RenderedMail(subject=subject, html=html, text=text, version_id=version.id)


def render_for(
    type_code: str,
    language: str,
    context: dict,
    version: TemplateVersion | int | None = None,
    account: MailAccount | None = None,
) -> RenderedMail:
    """Render the e-mail of a type and language: the current version, or the given one (id or row)."""
    if version is None:
        version = current_version(type_code, language)
    elif isinstance(version, int):
        version = db.session.get(TemplateVersion, version)
        if version is None:
            raise LookupError("Versione del modello inesistente")
    return render_version(version, context, account=account)


def render_draft(
    subject: str, body_html: str, body_text: str, context: dict, account: MailAccount | None = None
) -> tuple[RenderedMail | None, list[TemplateError]]:
    """Render unsaved text for the editor preview: (mail, []) or (None, errors) — never raises."""
    fields = {"subject": subject or "", "body_html": body_html or "", "body_text": body_text or ""}
    errors: list[TemplateError] = []
    out: dict[str, str] = {}
    for field, source in fields.items():
        if not source.strip():
            out[field] = ""
            continue
        template, field_errors = compile_checked(field, source)
        if field_errors:
            errors.extend(field_errors)
            continue
        try:
            out[field] = run(template, context)
        except Exception as exc:  # noqa: BLE001 — shown to the author in the preview
            errors.append(render_error(field, exc, False))
    if errors:
        return None, errors
    html = out["body_html"].strip()
    text = out["body_text"].strip() + "\n" if out["body_text"].strip() else html_to_text(html)
    sig = signature_for(account)
    return RenderedMail(
        subject=" ".join(out["subject"].split())[:500],
        html=f'{html}\n<div class="firma">\n{sig}\n</div>',
        text=f"{text}\n-- \n{html_to_text(sig)}",
        version_id=None,
    ), []


def markup_lines(source: str, errors: list[TemplateError], field: str) -> list[tuple[int, str, list[str]]]:
    """Source lines with their numbers and the error messages at each line (for the editor)."""
    by_line: dict[int, list[str]] = {}
    for err in errors:
        if err.field == field and err.line:
            by_line.setdefault(err.line, []).append(err.message)
    return [
        (i, Markup.escape(row), by_line.get(i, [])) for i, row in enumerate((source or "").split("\n"), 1)
    ]


def subject_example(type_code: str, language: str, subject: str) -> str:
    """A subject as it reads on a sample document of one page; its source when it no longer renders."""
    try:
        context = sample_context(type_code, sparse=True, language=language)
        return " ".join(render_source("subject", subject, context).split())
    except Exception:  # noqa: BLE001 — an old text that no longer renders shows its source instead
        return subject
