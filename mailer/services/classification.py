"""Zones, agents and party categories: the codes that the party import, the party filters and the
campaign segments refer to. Created, renamed and deleted from Amministrazione › Zone, agenti e categorie.

Codes are stored upper-case and are unique regardless of case, because the party import matches
them case-insensitively (`zona` «nord» finds the zone «NORD»). A code never changes once created:
it is the key the ERP uses. Deleting is refused while parties or saved filters still use the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ..extensions import db
from ..models import Agent, Category, Party, SavedFilter, Zone
from .audit import audit
from .validation import InvalidValue, normalize_email

CODE_MAX = 20
NAME_MAX = 120
CODE_EXTRA_CHARS = "-_./"


@dataclass(frozen=True)
class Table:
    """One of the three tables: its model, how parties point at it and how to talk about it in Italian."""

    key: str  # in the URL and the audit action: zones, agents, categories
    model: Any
    party_column: str  # Party attribute holding the id
    condition: str  # SavedFilter condition type that lists its ids
    audit_prefix: str
    title: str  # «Zone»
    noun: str  # «zona»
    a_noun: str  # «una zona»
    the_noun: str  # «la zona»
    of_the_noun: str  # «della zona»
    another: str  # «un'altra zona»
    used: str  # «usata»
    example_code: str
    example_name: str
    has_email: bool = False

    @property
    def ending(self) -> str:
        """The gender ending of its participles: «a» (zona aggiunta) or «o» (agente aggiunto)."""
        return self.used[-1]


TABLES: dict[str, Table] = {
    "zones": Table(
        "zones",
        Zone,
        "zone_id",
        "zone",
        "zone",
        "Zone",
        "zona",
        "una zona",
        "la zona",
        "della zona",
        "un'altra zona",
        "usata",
        "NORD",
        "Nord Italia",
    ),
    "agents": Table(
        "agents",
        Agent,
        "agent_id",
        "agent",
        "agent",
        "Agenti",
        "agente",
        "un agente",
        "l'agente",
        "dell'agente",
        "un altro agente",
        "usato",
        "AG01",
        "Mario Rossi",
        has_email=True,
    ),
    "categories": Table(
        "categories",
        Category,
        "category_id",
        "category",
        "category",
        "Categorie",
        "categoria",
        "una categoria",
        "la categoria",
        "della categoria",
        "un'altra categoria",
        "usata",
        "INGR",
        "Ingrosso",
    ),
}


@dataclass
class Entry:
    """A row of a table with how many parties use it."""

    row: Any
    parties: int


def table(key: str) -> Table | None:
    """The table for a URL key, or None."""
    return TABLES.get(key)


def entries(t: Table) -> list[Entry]:
    """Every row of the table by code, each with the number of parties that use it."""
    column = getattr(Party, t.party_column)
    counts: dict[int, int] = dict(
        db.session.execute(
            select(column, func.count(Party.id)).where(column.is_not(None)).group_by(column)
        ).all()
    )
    rows = db.session.scalars(select(t.model).order_by(t.model.code)).all()
    return [Entry(row, counts.get(row.id, 0)) for row in rows]


def normalize_code(value: str) -> str:
    """The code as stored: trimmed and upper-case (the import compares codes upper-cased)."""
    return (value or "").strip().upper()


def _clean_name(value: str) -> str:
    """The name with runs of blanks collapsed."""
    return " ".join((value or "").split())


def _check_fields(t: Table, name: str, email: str, errors: dict[str, str]) -> tuple[str, str]:
    """Validate name and (for agents) e-mail; return them normalised, adding Italian errors by field."""
    name = _clean_name(name)
    if not name:
        errors["name"] = f"Indica il nome {t.of_the_noun}."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Nome troppo lungo (al massimo {NAME_MAX} caratteri)."
    clean_email = ""
    if t.has_email:
        try:
            clean_email = normalize_email(email)
        except InvalidValue as exc:
            errors["email"] = str(exc)
        else:
            if len(clean_email) > 254:
                errors["email"] = "Indirizzo e-mail troppo lungo."
    return name, clean_email


def _existing_code(t: Table, code: str):
    """The row whose code equals this one regardless of case, or None."""
    return db.session.scalar(select(t.model).where(func.upper(t.model.code) == code.upper()))


def create_entry(t: Table, code: str, name: str, email: str = "") -> tuple[Any, dict[str, str]]:
    """Add a row (the caller commits); returns (row, {}) or (None, errors by field)."""
    errors: dict[str, str] = {}
    code = normalize_code(code)
    if not code:
        errors["code"] = f"Indica il codice (es. {t.example_code}), lo stesso usato dal gestionale."
    elif len(code) > CODE_MAX:
        errors["code"] = f"Codice troppo lungo (al massimo {CODE_MAX} caratteri)."
    elif not all(ch.isalnum() or ch in CODE_EXTRA_CHARS for ch in code):
        errors["code"] = "Il codice può contenere solo lettere, cifre e - _ . / (niente spazi)."
    else:
        clash = _existing_code(t, code)
        if clash is not None:
            errors["code"] = f"Esiste già {t.a_noun} con codice «{clash.code}» ({clash.name})."
    name, email = _check_fields(t, name, email, errors)
    if errors:
        return None, errors
    row = t.model(code=code, name=name)
    if t.has_email:
        row.email = email
    db.session.add(row)
    db.session.flush()
    details = {"code": code, "name": name}
    if t.has_email:
        details["email"] = email
    audit(f"{t.audit_prefix}.create", row, **details)
    return row, {}


def update_entry(t: Table, row: Any, name: str, email: str = "") -> tuple[dict, dict[str, str]]:
    """Rename a row (and change an agent's e-mail); returns (changes as {field: [old, new]}, errors)."""
    errors: dict[str, str] = {}
    name, email = _check_fields(t, name, email, errors)
    if errors:
        return {}, errors
    values = {"name": name, **({"email": email} if t.has_email else {})}
    changes = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
    for key, value in values.items():
        setattr(row, key, value)
    if changes:
        audit(f"{t.audit_prefix}.update", row, code=row.code, changes=changes)
    return changes, {}


def usage(t: Table, row: Any) -> tuple[int, list[str]]:
    """How many parties use the row, and the names of the saved filters that name it."""
    parties = (
        db.session.scalar(select(func.count(Party.id)).where(getattr(Party, t.party_column) == row.id)) or 0
    )
    filters = [
        f.name
        for f in db.session.scalars(select(SavedFilter).order_by(SavedFilter.name))
        if any(c.get("type") == t.condition and row.id in (c.get("ids") or []) for c in f.conditions or [])
    ]
    return parties, filters


def delete_problem(t: Table, row: Any) -> str | None:
    """Why the row cannot be deleted (in Italian), or None when nothing uses it."""
    parties, filters = usage(t, row)
    reasons = []
    if parties:
        reasons.append(f"da {parties} anagrafic{'a' if parties == 1 else 'he'}")
    if filters:
        shown = ", ".join(f"«{n}»" for n in filters[:5]) + (" …" if len(filters) > 5 else "")
        reasons.append(
            f"da {len(filters)} filtr{'o' if len(filters) == 1 else 'i'} salvat{'o' if len(filters) == 1 else 'i'} "
            f"({shown})"
        )
    if not reasons:
        return None
    fix = []
    if parties:
        fix.append(f"assegna a quelle anagrafiche {t.another} nel gestionale e reimportale")
    if filters:
        fix.append("togli la condizione da quei filtri")
    return (
        f"Non si può eliminare {t.the_noun} «{row.code}»: è {t.used} {' e '.join(reasons)}. "
        f"Prima {' e '.join(fix)}."
    )


def delete_entry(t: Table, row: Any) -> str | None:
    """Delete an unused row (the caller commits); returns the Italian reason when it is in use."""
    problem = delete_problem(t, row)
    if problem:
        return problem
    audit(f"{t.audit_prefix}.delete", row, code=row.code, name=row.name)
    db.session.delete(row)
    return None
