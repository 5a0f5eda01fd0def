"""Reference rows every installation needs: document types, contact functions, company."""

from __future__ import annotations

from ..extensions import db
from ..models import Company, ContactFunction, DocumentType
from ..reference import CONTACT_FUNCTIONS, DOCUMENT_TYPES, GROUPED_BY_DEFAULT


def ensure_reference_data() -> None:
    """Insert the document types, default contact functions, the company row and default e-mail templates."""
    existing = {t.code for t in db.session.scalars(db.select(DocumentType))}
    for position, (code, name, name_en, counterpart, by_pec) in enumerate(DOCUMENT_TYPES):
        if code not in existing:
            db.session.add(
                DocumentType(
                    code=code,
                    name=name,
                    name_en=name_en,
                    counterpart=counterpart,
                    by_pec=by_pec,
                    position=position,
                    group_per_recipient=code in GROUPED_BY_DEFAULT,
                    commercial=False,
                )
            )
    db.session.flush()
    types = {t.code: t for t in db.session.scalars(db.select(DocumentType))}
    functions = {f.code for f in db.session.scalars(db.select(ContactFunction))}
    for code, name, defaults in CONTACT_FUNCTIONS:
        if code not in functions:
            db.session.add(ContactFunction(code=code, name=name, default_types=[types[c] for c in defaults]))
    if db.session.get(Company, 1) is None:
        db.session.add(Company(id=1))
    from .mail_templates.versions import ensure_default_templates

    ensure_default_templates()  # version 1 of the e-mail template of every type and language
    db.session.commit()


def get_company() -> Company:
    """The company row (created on first use)."""
    company = db.session.get(Company, 1)
    if company is None:
        company = Company(id=1)
        db.session.add(company)
        db.session.commit()
    return company
