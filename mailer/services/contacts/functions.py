"""Contact functions and the document types a new contact of each starts with."""

from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...models import (
    ContactFunction,
    DocumentType,
)


def save_function(
    function: ContactFunction | None, code: str, name: str, type_codes: list[str]
) -> tuple[ContactFunction | None, dict[str, str]]:
    """Create or change a contact function and its default document types (the caller commits)."""
    errors: dict[str, str] = {}
    code = (code or "").strip().lower()
    name = " ".join((name or "").split())
    if function is None:
        if not code:
            errors["code"] = "Indica un codice (es. legale)."
        elif not all(ch.isalnum() or ch in "_-" for ch in code) or len(code) > 32:
            errors["code"] = "Il codice può avere solo lettere, cifre, - e _ (al massimo 32)."
        elif db.session.scalar(select(ContactFunction).where(ContactFunction.code == code)):
            errors["code"] = f"Esiste già una funzione con codice «{code}»."
    if not name:
        errors["name"] = "Indica il nome della funzione."
    elif len(name) > 120:
        errors["name"] = "Nome troppo lungo (al massimo 120 caratteri)."
    types = {t.code: t for t in db.session.scalars(select(DocumentType))}
    unknown = [c for c in type_codes if c not in types]
    if unknown:
        errors["types"] = "Tipi di documento sconosciuti: " + ", ".join(unknown)
    if errors:
        return None, errors
    if function is None:
        function = ContactFunction(code=code, name=name)
        db.session.add(function)
    function.name = name
    function.default_types = [types[c] for c in type_codes]
    return function, {}
