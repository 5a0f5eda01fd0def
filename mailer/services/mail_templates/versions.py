"""Template versions per document type and language: the current one, saving a new one, the defaults."""

from __future__ import annotations

from collections.abc import Iterable

from ...extensions import db
from ...models import TEMPLATE_LANGUAGES, DocumentType, EmailTemplate, TemplateVersion, User
from .checker import validate_template
from .errors import TemplateValidationError


def get_template(type_code: str, language: str, create: bool = True) -> EmailTemplate | None:
    """The template row of a type and language (created with its default version when missing)."""
    template = db.session.scalar(
        db.select(EmailTemplate).where(
            EmailTemplate.type_code == type_code, EmailTemplate.language == language
        )
    )
    if template is None and create:
        ensure_default_templates()
        template = db.session.scalar(
            db.select(EmailTemplate).where(
                EmailTemplate.type_code == type_code, EmailTemplate.language == language
            )
        )
    return template


def current_version(type_code: str, language: str) -> TemplateVersion:
    """The version new e-mails of this type and language use (the latest saved)."""
    if language not in TEMPLATE_LANGUAGES:
        language = "en"
    template = get_template(type_code, language)
    if template is None:
        raise LookupError(f"Nessun modello per il tipo {type_code}")
    return db.session.scalar(
        db.select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.number.desc())
        .limit(1)
    )


def template_versions(type_code: str, language: str) -> list[TemplateVersion]:
    """The versions of a type's template in a language, newest first."""
    template = get_template(type_code, language)
    assert template is not None  # get_template creates the missing template of a known type
    return list(
        db.session.scalars(
            db.select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.number.desc())
        )
    )


def saved_version(type_code: str, language: str, number: int) -> TemplateVersion | None:
    """Version `number` of a type's template in a language, or None."""
    template = get_template(type_code, language)
    assert template is not None  # get_template creates the missing template of a known type
    return db.session.scalar(
        db.select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.number == number
        )
    )


def latest_versions() -> dict[tuple[str, str], TemplateVersion]:
    """The current version of every template, by (type code, language)."""
    rows = db.session.execute(
        db.select(EmailTemplate.type_code, EmailTemplate.language, TemplateVersion)
        .join(TemplateVersion, TemplateVersion.template_id == EmailTemplate.id)
        .order_by(TemplateVersion.number)
    ).all()
    return {(code, language): version for code, language, version in rows}


def snapshot_versions(type_codes: Iterable[str]) -> dict[str, dict[str, int]]:
    """Current version ids per type and language, to store in Batch.template_versions."""
    return {
        code: {lang: current_version(code, lang).id for lang in TEMPLATE_LANGUAGES} for code in type_codes
    }


def save_version(
    type_code: str,
    language: str,
    subject: str,
    body_html: str,
    body_text: str,
    user: User | None,
    note: str = "",
) -> TemplateVersion:
    """Validate and store a new version (the caller commits); raises TemplateValidationError."""
    if language not in TEMPLATE_LANGUAGES:
        raise ValueError(f"Lingua non gestita: {language}")
    subject = " ".join((subject or "").split())
    body_html = (body_html or "").replace("\r\n", "\n")
    body_text = (body_text or "").replace("\r\n", "\n")
    if not body_text.strip():
        body_text = ""
    errors = validate_template(subject, body_html, body_text, type_code)
    if errors:
        raise TemplateValidationError(errors)
    template = get_template(type_code, language)
    if template is None:
        raise LookupError(f"Tipo di documento sconosciuto: {type_code}")
    last = (
        db.session.scalar(
            db.select(db.func.max(TemplateVersion.number)).where(TemplateVersion.template_id == template.id)
        )
        or 0
    )
    version = TemplateVersion(
        template_id=template.id,
        number=last + 1,
        subject=subject,
        body_html=body_html,
        body_text=body_text,
        note=(note or "")[:200],
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(version)
    db.session.flush()
    from ..audit import audit

    audit("template.save", version, type_code=type_code, language=language, number=version.number)
    return version


def ensure_default_templates() -> int:
    """Create version 1 of every missing template from the defaults (idempotent; the caller commits)."""
    from sqlalchemy.exc import IntegrityError

    from .defaults import DEFAULT_TEMPLATES, fallback_template

    existing = {(t.type_code, t.language) for t in db.session.scalars(db.select(EmailTemplate))}
    created = 0
    for doc_type in db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)):
        for language in TEMPLATE_LANGUAGES:
            if (doc_type.code, language) in existing:
                continue
            subject, html = DEFAULT_TEMPLATES.get((doc_type.code, language)) or fallback_template(
                doc_type, language
            )
            try:
                with db.session.begin_nested():
                    template = EmailTemplate(type_code=doc_type.code, language=language)
                    db.session.add(template)
                    db.session.flush()
                    db.session.add(
                        TemplateVersion(
                            template_id=template.id,
                            number=1,
                            subject=subject,
                            body_html=html,
                            body_text="",
                            note="Testo predefinito",
                        )
                    )
                    db.session.flush()
                created += 1
            except IntegrityError:  # another process created it meanwhile
                continue
    return created
