"""Import of the ERP's customers/suppliers (anagrafiche) and contacts from CSV or XLSX.

Every row is checked first; a file with any bad row writes nothing (all-or-nothing) and the report
lists each bad row with its line number and the reasons, in Italian. Rows are matched by ERP code
(update-or-insert). The columns are documented in README.md ("Import anagrafiche e contatti").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Agent, Category, Contact, DocumentType, Party, Zone
from .audit import audit
from .contacts import (
    ContactInput,
    clearance_of,
    create_contact,
    function_lookup,
    update_contact,
    validate_contact,
    visible_contacts_filter,
)
from .spreadsheets import ImportFileError, read_table, unguard_cell
from .validation import (
    InvalidValue,
    is_pec_address,
    normalize_province,
    normalize_tax_code,
    normalize_vat_number,
)

# column -> (required, description); the description is what README.md says.
PARTY_COLUMNS: dict[str, tuple[bool, str]] = {
    "codice": (True, "codice dell'anagrafica nel gestionale (chiave: se esiste viene aggiornata)"),
    "ragione_sociale": (True, "ragione sociale o nome"),
    "tipo": (False, "cliente, fornitore o entrambi (anche C, F, E); vuoto = cliente"),
    "partita_iva": (False, "11 cifre con cifra di controllo (per nazione IT); accetta il prefisso IT"),
    "codice_fiscale": (False, "16 caratteri, oppure 11 cifre per le società"),
    "indirizzo": (False, "via e numero civico"),
    "cap": (False, "codice di avviamento postale"),
    "citta": (False, "comune"),
    "provincia": (False, "sigla di due lettere (MI, RM…; EE per l'estero)"),
    "nazione": (False, "codice ISO a due lettere; vuoto = IT"),
    "lingua": (False, "lingua dei documenti (it, en…); vuoto = it"),
    "zona": (False, "codice di una zona esistente"),
    "agente": (False, "codice di un agente esistente"),
    "categoria": (False, "codice di una categoria esistente"),
    "attivo": (False, "si/no; vuoto = si"),
}
CONTACT_COLUMNS: dict[str, tuple[bool, str]] = {
    "codice_anagrafica": (True, "codice dell'anagrafica a cui appartiene il contatto (deve esistere)"),
    "codice_contatto": (
        False,
        "codice del contatto nel gestionale; è la chiave di aggiornamento, "
        "se manca la chiave è l'e-mail, se manca anche quella il nome",
    ),
    "nome": (False, "nome e cognome o descrizione (es. Ufficio acquisti); serve nome o e-mail"),
    "funzione": (False, "codice o nome di una funzione (commerciale, amministrazione, logistica…)"),
    "telefono": (False, "cifre, spazi e + / - ( )"),
    "email": (False, "indirizzo e-mail (sintassi controllata, senza interrogare il DNS)"),
    "pec": (False, "si/no; vuoto = riconosciuta dal dominio del provider PEC"),
    "documenti": (
        False,
        "codici dei tipi di documento ricevuti separati da virgola (FATTURA,DDT); "
        "vuoto = quelli predefiniti della funzione per i contatti nuovi, invariati per "
        "quelli esistenti; «nessuno» = nessun documento",
    ),
    "caratteristiche": (False, "caratteristiche separate da virgola (create se mancano)"),
    "riservatezza": (
        False,
        "0 pubblico, 1 interno, 2 riservato, 3 confidenziale; vuoto = 0; non oltre il livello di chi importa",
    ),
    "consenso_marketing": (False, "si/no; con si servono data_consenso e fonte_consenso"),
    "data_consenso": (False, "gg/mm/aaaa"),
    "fonte_consenso": (False, "da dove viene il consenso (modulo web, contratto…)"),
    "disiscritto": (False, "si/no: ha chiesto di non ricevere comunicazioni promozionali"),
    "note": (False, "testo libero"),
}
# Header spellings seen in ERP exports -> our column names.
ALIASES = {
    "codice_cliente": "codice",
    "codice_fornitore": "codice",
    "cod": "codice",
    "codice_erp": "codice",
    "ragione": "ragione_sociale",
    "denominazione": "ragione_sociale",
    "nome_anagrafica": "ragione_sociale",
    "piva": "partita_iva",
    "p_iva": "partita_iva",
    "partitaiva": "partita_iva",
    "cf": "codice_fiscale",
    "codicefiscale": "codice_fiscale",
    "comune": "citta",
    "localita": "citta",
    "prov": "provincia",
    "paese": "nazione",
    "e_mail": "email",
    "mail": "email",
    "tel": "telefono",
    "cellulare": "telefono",
    "anagrafica": "codice_anagrafica",
    "tipi_documento": "documenti",
    "tag": "caratteristiche",
    "privacy": "riservatezza",
    "livello_riservatezza": "riservatezza",
}
YES = {"si", "sì", "s", "1", "true", "vero", "x", "yes", "y"}
NO = {"no", "n", "0", "false", "falso", ""}
KINDS = {
    "cliente": "customer",
    "c": "customer",
    "customer": "customer",
    "fornitore": "supplier",
    "f": "supplier",
    "supplier": "supplier",
    "entrambi": "both",
    "e": "both",
    "both": "both",
    "cliente e fornitore": "both",
    "": "customer",
}


@dataclass
class RowError:
    """A bad row: its line number in the file and the reasons."""

    line: int
    key: str
    reasons: list[str]


@dataclass
class ImportReport:
    """What an import found and did."""

    kind: str
    filename: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = True
    applied: bool = False

    @property
    def ok(self) -> bool:
        """True when every row is valid."""
        return not self.errors


def _norm_header(name: str) -> str:
    """Lower-case, no accents, separators as underscores."""
    text = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode().strip().lower()
    for ch in " .-/":
        text = text.replace(ch, "_")
    while "__" in text:
        text = text.replace("__", "_")
    text = text.strip("_")
    return ALIASES.get(text, text)


def _records(
    data: bytes, filename: str, columns: dict[str, tuple[bool, str]], report: ImportReport
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, {column: value}) for the non-empty data rows; check the header first."""
    rows = read_table(data, filename)
    header_line, header = next(((n, c) for n, c in rows if any(c)), (0, []))
    if not header:
        raise ImportFileError("Il file è vuoto.")
    names = [_norm_header(h) for h in header]
    missing = [c for c, (required, _) in columns.items() if required and c not in names]
    if missing:
        raise ImportFileError(
            f"Riga {header_line}: mancano le colonne obbligatorie: {', '.join(missing)} "
            f"(intestazioni trovate: {', '.join(h for h in header if h) or 'nessuna'})."
        )
    seen: set[str] = set()
    for name in names:
        if name in seen and name in columns:
            raise ImportFileError(f"Riga {header_line}: la colonna «{name}» compare due volte.")
        seen.add(name)
    report.ignored_columns = [h for h, n in zip(header, names, strict=True) if h and n not in columns]
    for line, cells in rows:
        if not any(cells):
            continue
        yield (
            line,
            {
                n: (unguard_cell(cells[i]) if i < len(cells) else "")
                for i, n in enumerate(names)
                if n in columns
            },
        )


def _yes_no(value: str, label: str, reasons: list[str], default: bool) -> bool:
    """Parse si/no."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in YES:
        return True
    if text in NO:
        return False
    reasons.append(f"{label}: valore «{value}» non valido (usa si o no)")
    return default


def import_parties(data: bytes, filename: str, user: Any = None, dry_run: bool = True) -> ImportReport:
    """Check (and unless dry_run, apply) a file of anagrafiche; all-or-nothing."""
    report = ImportReport(kind="parties", filename=filename, dry_run=dry_run)
    zones = {z.code.upper(): z.id for z in db.session.scalars(select(Zone))}
    agents = {a.code.upper(): a.id for a in db.session.scalars(select(Agent))}
    categories = {c.code.upper(): c.id for c in db.session.scalars(select(Category))}
    seen: dict[str, int] = {}
    clean_rows: list[dict] = []
    for line, rec in _records(data, filename, PARTY_COLUMNS, report):
        report.rows += 1
        reasons: list[str] = []
        code = rec.get("codice", "").strip()
        if not code:
            reasons.append("codice mancante")
        elif len(code) > 32:
            reasons.append("codice troppo lungo (al massimo 32 caratteri)")
        elif code.upper() in seen:
            reasons.append(f"codice «{code}» duplicato (già alla riga {seen[code.upper()]})")
        else:
            seen[code.upper()] = line
        name = " ".join(rec.get("ragione_sociale", "").split())
        if not name:
            reasons.append("ragione sociale mancante")
        elif len(name) > 200:
            reasons.append("ragione sociale troppo lunga (al massimo 200 caratteri)")
        kind = KINDS.get(rec.get("tipo", "").strip().lower())
        if kind is None:
            reasons.append(f"tipo «{rec.get('tipo')}» non valido (cliente, fornitore o entrambi)")
        country = (rec.get("nazione", "") or "IT").strip().upper()
        if len(country) != 2 or not country.isalpha():
            reasons.append(f"nazione «{country}» non valida (codice di due lettere, es. IT)")
            country = "IT"
        values: dict[str, Any] = {"erp_code": code, "name": name, "kind": kind, "country": country}
        for column, attr, check in (
            ("partita_iva", "vat_number", normalize_vat_number),
            ("codice_fiscale", "tax_code", normalize_tax_code),
            ("provincia", "province", normalize_province),
        ):
            try:
                values[attr] = check(rec.get(column, ""), country)
            except InvalidValue as exc:
                reasons.append(str(exc).rstrip("."))
        for column, attr, limit in (
            ("indirizzo", "address", 200),
            ("cap", "zip_code", 10),
            ("citta", "city", 100),
        ):
            value = " ".join(rec.get(column, "").split())
            if len(value) > limit:
                reasons.append(f"{column}: troppo lungo (al massimo {limit} caratteri)")
            values[attr] = value
        language = (rec.get("lingua", "") or "it").strip().lower()
        if len(language) != 2 or not language.isalpha():
            reasons.append(f"lingua «{language}» non valida (due lettere, es. it)")
        values["language"] = language[:2]
        for column, attr, table, label in (
            ("zona", "zone_id", zones, "zona"),
            ("agente", "agent_id", agents, "agente"),
            ("categoria", "category_id", categories, "categoria"),
        ):
            ref = rec.get(column, "").strip()
            if ref and ref.upper() not in table:
                reasons.append(
                    f"{label} «{ref}» sconosciuta" if label != "agente" else f"agente «{ref}» sconosciuto"
                )
            values[attr] = table.get(ref.upper()) if ref else None
        values["active"] = _yes_no(rec.get("attivo", ""), "attivo", reasons, True)
        if reasons:
            report.errors.append(RowError(line=line, key=code, reasons=reasons))
        else:
            clean_rows.append(values)
    if report.errors or dry_run:
        _count_parties(report, clean_rows)
        return report
    _count_parties(report, clean_rows)
    existing = {p.erp_code.upper(): p for p in db.session.scalars(select(Party))}
    for values in clean_rows:
        party = existing.get(values["erp_code"].upper())
        if party is None:
            db.session.add(Party(**values))
        else:
            for attr, value in values.items():
                if attr != "erp_code":
                    setattr(party, attr, value)
    audit(
        "contacts.import_parties",
        None,
        user=user,
        filename=filename,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
    )
    db.session.commit()
    report.applied = True
    return report


def _count_parties(report: ImportReport, rows: list[dict]) -> None:
    """How many rows would create, change or leave alone a party."""
    existing = {p.erp_code.upper(): p for p in db.session.scalars(select(Party))}
    for values in rows:
        party = existing.get(values["erp_code"].upper())
        if party is None:
            report.created += 1
        elif any(getattr(party, a) != v for a, v in values.items() if a != "erp_code"):
            report.updated += 1
        else:
            report.unchanged += 1


def import_contacts(
    data: bytes, filename: str, user: Any = None, clearance: int | None = None, dry_run: bool = True
) -> ImportReport:
    """Check (and unless dry_run, apply) a file of contacts; all-or-nothing.

    Only contacts within the importer's clearance are matched, so an import never reveals (nor
    overwrites) a contact the importer may not see.
    """
    level = clearance_of(user) if clearance is None else clearance
    report = ImportReport(kind="contacts", filename=filename, dry_run=dry_run)
    parties = {code.upper(): pid for code, pid in db.session.execute(select(Party.erp_code, Party.id))}
    functions = function_lookup()
    type_codes = set(db.session.scalars(select(DocumentType.code)))
    seen: dict[tuple, int] = {}
    clean_rows: list[tuple[int, tuple, dict, bool]] = []
    for line, rec in _records(data, filename, CONTACT_COLUMNS, report):
        report.rows += 1
        reasons: list[str] = []
        party_code = rec.get("codice_anagrafica", "").strip()
        party_id = parties.get(party_code.upper())
        if not party_code:
            reasons.append("codice_anagrafica mancante")
        elif party_id is None:
            reasons.append(f"anagrafica «{party_code}» sconosciuta (importa prima le anagrafiche)")
        docs_raw = rec.get("documenti", "").strip()
        if not docs_raw:
            documents = None
        elif docs_raw.lower() == "nessuno":
            documents = []
        else:
            documents = docs_raw.replace(";", ",").replace("|", ",").split(",")
        consent = _yes_no(rec.get("consenso_marketing", ""), "consenso_marketing", reasons, False)
        opted_out = _yes_no(rec.get("disiscritto", ""), "disiscritto", reasons, False)
        data_in = ContactInput(
            name=rec.get("nome", ""),
            function=rec.get("funzione", ""),
            phone=rec.get("telefono", ""),
            email=rec.get("email", ""),
            pec=rec.get("pec", "") or "auto",
            document_types=documents,
            tags=rec.get("caratteristiche", ""),
            privacy_level=rec.get("riservatezza", "") or "0",
            marketing_consent=consent,
            consent_date=rec.get("data_consenso", ""),
            consent_source=rec.get("fonte_consenso", ""),
            opted_out=opted_out,
            notes=rec.get("note", ""),
            erp_code=rec.get("codice_contatto", ""),
        )
        clean, errors = validate_contact(data_in, level, functions, type_codes)
        labels = {
            "name": "nome",
            "function": "funzione",
            "phone": "telefono",
            "email": "email",
            "pec": "pec",
            "document_types": "documenti",
            "tags": "caratteristiche",
            "privacy_level": "riservatezza",
            "consent_date": "data_consenso",
            "consent_source": "fonte_consenso",
            "notes": "note",
            "erp_code": "codice_contatto",
        }
        for field_name, message in errors.items():
            reasons.append(f"{labels.get(field_name, field_name)}: {message.rstrip('.')}")
        if clean["erp_code"]:
            key = (party_id, "code", clean["erp_code"].upper())
        elif clean["email"]:
            key = (party_id, "email", clean["email"].lower())
        else:
            key = (party_id, "name", clean["name"].lower())
        if party_id is not None and key in seen:
            reasons.append(f"contatto ripetuto (già alla riga {seen[key]})")
        else:
            seen[key] = line
        if reasons:
            report.errors.append(
                RowError(
                    line=line, key=f"{party_code} {clean['name'] or clean['email']}".strip(), reasons=reasons
                )
            )
        else:
            assert party_id is not None  # a row without its party has a reason above
            clean_rows.append((party_id, key, clean, documents is None))
    existing = _existing_contacts({row[0] for row in clean_rows}, level)
    plan = []
    for party_id, key, clean, keep_types in clean_rows:
        contact = existing.get(key)
        plan.append((party_id, contact, clean, keep_types))
        if contact is None:
            report.created += 1
    if report.errors or dry_run:
        report.updated = len(plan) - report.created
        return report
    types = {t.code: t for t in db.session.scalars(select(DocumentType))}
    party_objs = (
        {p.id: p for p in db.session.scalars(select(Party).where(Party.id.in_({p[0] for p in plan})))}
        if plan
        else {}
    )
    for party_id, contact, clean, keep_types in plan:
        if contact is None:
            create_contact(party_objs[party_id], clean, user, types, audited=False)
        else:
            if keep_types:
                clean = {**clean, "document_types": sorted(contact.document_type_codes)}
            if (
                clean["pec_flag_manual"]
                and not contact.pec_flag_manual
                and clean["is_pec"] == contact.is_pec
                and clean["is_pec"] == is_pec_address(clean["email"])
            ):
                # The export writes sì/no also for a flag set automatically: the same value read back
                # keeps it automatic (a round trip changes nothing).
                clean = {**clean, "pec_flag_manual": False}
            if update_contact(contact, clean, user, types, audited=False):
                report.updated += 1
            else:
                report.unchanged += 1
    audit(
        "contacts.import_contacts",
        None,
        user=user,
        filename=filename,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
    )
    db.session.commit()
    report.applied = True
    return report


def _existing_contacts(party_ids: set[int], clearance: int) -> dict[tuple, Contact]:
    """Visible contacts of the parties, by every key an import row may use."""
    result: dict[tuple, Contact] = {}
    ids = sorted(i for i in party_ids if i is not None)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for contact in db.session.scalars(
            select(Contact)
            .where(Contact.party_id.in_(chunk), visible_contacts_filter(clearance))
            .order_by(Contact.id)
        ):
            if contact.erp_code:
                result.setdefault((contact.party_id, "code", contact.erp_code.upper()), contact)
            if contact.email:
                result.setdefault((contact.party_id, "email", contact.email.lower()), contact)
            if contact.name:
                result.setdefault((contact.party_id, "name", contact.name.lower()), contact)
    return result


def run_import(
    kind: str,
    data: bytes,
    filename: str,
    user: Any = None,
    clearance: int | None = None,
    dry_run: bool = True,
) -> ImportReport:
    """Import a file of `parties` or `contacts`; a file that cannot be read raises ImportFileError."""
    if kind == "parties":
        return import_parties(data, filename, user=user, dry_run=dry_run)
    if kind == "contacts":
        return import_contacts(data, filename, user=user, clearance=clearance, dry_run=dry_run)
    raise ImportFileError(f"Tipo di import sconosciuto: {kind}")
