"""Checking a contact as typed in the form, sent by the API or read from an imported file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...formatting import DateInputError, parse_it_date
from ...models import (
    ContactFunction,
    DocumentType,
)
from ...reference import PRIVACY_NAMES
from ..validation import InvalidValue, is_pec_address, normalize_email
from .visibility import clearance_of

PHONE_CHARS = set("0123456789 +/-().")


@dataclass
class ContactInput:
    """Raw values of a contact as typed in the form or read from an imported file."""

    name: str = ""
    function: str = ""  # id (form) or code/name (import)
    phone: str = ""
    email: str = ""
    pec: str = "auto"  # auto|si|no
    document_types: list[str] | None = None  # None: the function's defaults
    tags: str = ""
    privacy_level: str = "0"
    marketing_consent: bool = False
    consent_date: str = ""
    consent_source: str = ""
    opted_out: bool = False
    notes: str = ""
    erp_code: str = ""
    active: bool | None = None  # None: left as it is (the form and the import do not change it)

    @classmethod
    def from_form(cls, form: Any) -> ContactInput:
        """Read the contact form (a werkzeug MultiDict)."""
        return cls(
            name=form.get("name", ""),
            function=form.get("function", ""),
            phone=form.get("phone", ""),
            email=form.get("email", ""),
            pec=form.get("pec", "auto"),
            document_types=form.getlist("document_types"),
            tags=form.get("tags", ""),
            privacy_level=form.get("privacy_level", "0"),
            marketing_consent=form.get("marketing_consent") == "1",
            consent_date=form.get("consent_date", ""),
            consent_source=form.get("consent_source", ""),
            opted_out=form.get("opted_out") == "1",
            notes=form.get("notes", ""),
            erp_code=form.get("erp_code", ""),
        )


def parse_date(value: str, field: str = "Data") -> date:
    """A date written dd/mm/yyyy or yyyy-mm-dd (formatting.parse_it_date); InvalidValue naming the field."""
    try:
        parsed = parse_it_date(value, field)
    except DateInputError as exc:
        raise InvalidValue(str(exc)) from None
    if parsed is None:
        raise InvalidValue(f"{field}: scrivi la data come gg/mm/aaaa, es. 31/01/2027.")
    return parsed


def validate_contact(
    data: ContactInput,
    user_or_clearance: Any,
    functions: dict[str, ContactFunction] | None = None,
    type_codes: set[str] | None = None,
) -> tuple[dict, dict[str, str]]:
    """Check every field; return (clean values, {field: Italian message}). Nothing is written."""
    clearance = clearance_of(user_or_clearance)
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if functions is None:
        functions = function_lookup()
    if type_codes is None:
        type_codes = set(db.session.scalars(select(DocumentType.code)))

    clean["name"] = " ".join((data.name or "").split())
    if len(clean["name"]) > 160:
        errors["name"] = "Nome troppo lungo (al massimo 160 caratteri)."
    clean["erp_code"] = (data.erp_code or "").strip()
    if len(clean["erp_code"]) > 40:
        errors["erp_code"] = "Codice troppo lungo (al massimo 40 caratteri)."

    function = None
    key = (data.function or "").strip()
    if key:
        function = functions.get(key) or functions.get(key.lower())
        if function is None:
            errors["function"] = f"Funzione sconosciuta: «{key}»."
    clean["function"] = function

    phone = (data.phone or "").strip()
    if phone and (not set(phone) <= PHONE_CHARS or not any(ch.isdigit() for ch in phone)):
        errors["phone"] = "Telefono non valido: usa cifre, spazi e i segni + / - ( )."
    elif len(phone) > 40:
        errors["phone"] = "Telefono troppo lungo (al massimo 40 caratteri)."
    clean["phone"] = phone

    try:
        clean["email"] = normalize_email(data.email)
    except InvalidValue as exc:
        errors["email"] = str(exc)
        clean["email"] = (data.email or "").strip()
    if not clean["name"] and not clean["email"] and "email" not in errors:
        errors["name"] = "Indica almeno il nome o l'indirizzo e-mail."

    pec = (data.pec or "auto").strip().lower()
    if pec in ("", "auto"):
        clean["is_pec"], clean["pec_flag_manual"] = is_pec_address(clean["email"]), False
    elif pec in ("si", "sì", "1", "yes", "true", "s"):
        clean["is_pec"], clean["pec_flag_manual"] = True, True
    elif pec in ("no", "0", "false", "n"):
        clean["is_pec"], clean["pec_flag_manual"] = False, True
    else:
        errors["pec"] = "Valore PEC non valido: usa sì, no o lascia vuoto (automatico)."

    if data.document_types is None:
        codes = [t.code for t in function.default_types] if function else []
    else:
        codes = [c.strip().upper() for c in data.document_types if c and c.strip()]
        unknown = [c for c in codes if c not in type_codes]
        if unknown:
            errors["document_types"] = "Tipi di documento sconosciuti: " + ", ".join(unknown) + "."
    clean["document_types"] = sorted(set(codes) & type_codes)
    if clean["document_types"] and not clean["email"] and "email" not in errors:
        errors["document_types"] = "Per ricevere documenti serve un indirizzo e-mail."

    tags: list[str] = []
    for raw in (data.tags or "").replace(";", ",").split(","):
        tag = " ".join(raw.split())
        if tag and tag.lower() not in {t.lower() for t in tags}:
            if len(tag) > 60:
                errors["tags"] = f"Caratteristica troppo lunga: «{tag[:20]}…» (al massimo 60 caratteri)."
            tags.append(tag)
    clean["tags"] = tags

    try:
        level = int(str(data.privacy_level).strip() or "0")
    except ValueError:
        level = -1
    if level not in PRIVACY_NAMES:
        errors["privacy_level"] = "Livello di riservatezza non valido (da 0 a 3)."
    elif level > clearance:
        errors["privacy_level"] = (
            "Non puoi assegnare un livello di riservatezza superiore al tuo "
            f"({PRIVACY_NAMES.get(clearance, clearance)})."
        )
    clean["privacy_level"] = level

    clean["marketing_consent"] = bool(data.marketing_consent)
    clean["consent_source"] = " ".join((data.consent_source or "").split())
    clean["consent_date"] = None
    if data.consent_date:
        try:
            clean["consent_date"] = parse_date(data.consent_date, "Data del consenso")
            if clean["consent_date"] > date.today():  # noqa: DTZ011 - the user's calendar day
                errors["consent_date"] = "La data del consenso non può essere nel futuro."
        except InvalidValue as exc:
            errors["consent_date"] = str(exc)
    if clean["marketing_consent"]:
        if not data.consent_date:
            errors["consent_date"] = "Con il consenso marketing indica la data in cui è stato dato."
        if not clean["consent_source"]:
            errors["consent_source"] = (
                "Con il consenso marketing indica la fonte (es. modulo web, contratto)."
            )
    if len(clean["consent_source"]) > 120:
        errors["consent_source"] = "Fonte troppo lunga (al massimo 120 caratteri)."
    clean["opted_out"] = bool(data.opted_out)
    clean["active"] = data.active
    clean["notes"] = (data.notes or "").strip()
    if len(clean["notes"]) > 2000:
        errors["notes"] = "Note troppo lunghe (al massimo 2000 caratteri)."
    return clean, errors


def function_lookup() -> dict[str, ContactFunction]:
    """Functions by id (as text), code and lower-case name."""
    lookup: dict[str, ContactFunction] = {}
    for f in db.session.scalars(select(ContactFunction)):
        lookup[str(f.id)] = f
        lookup[f.code] = f
        lookup[f.code.lower()] = f
        lookup[f.name.lower()] = f
    return lookup
