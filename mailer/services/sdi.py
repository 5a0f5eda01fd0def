"""SdI notifications (MessaggiTypes v1.x: RC, MC, NS, NE, DT, AT) about our invoice files.

A notification names the invoice file it is about (``NomeFile``); documents keep the name their
FatturaPA file had (``Document.sdi_file_name``), so the two meet by that name. Files are unwrapped
(.p7m, base64) and parsed exactly as the FatturaPA reader does (no DTD, no entities, size limits).
Unmatched notifications are kept all the same: the document may come later.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import SDI_KINDS, Document, SdiNotification
from .fatturapa.reader import FatturaPAError, _text, parse_xml, unwrap

NAMESPACE = "http://www.fatturapa.gov.it/sdi/messaggi/v1.0"
ROOTS = {
    "RicevutaConsegna": "RC",
    "NotificaMancataConsegna": "MC",
    "NotificaScarto": "NS",
    "NotificaEsito": "NE",
    "NotificaDecorrenzaTermini": "DT",
    "AttestazioneTrasmissioneFattura": "AT",
}
# IT01234567890_11111_RC_001.xml (or .xml.p7m): what the SdI calls its notification files
NAME_PATTERN = re.compile(
    r"^[A-Z]{2}[A-Za-z0-9]{1,28}_[A-Za-z0-9]{1,5}_(RC|MC|NS|NE|DT|AT)_[0-9]{3}\.xml(\.p7m)?$", re.IGNORECASE
)
NE_OUTCOMES = {"EC01": "accettata dal committente", "EC02": "rifiutata dal committente"}
MC_TEXT = (
    "La fattura è disponibile nell'area riservata «Fatture e Corrispettivi» del sito "
    "dell'Agenzia delle Entrate del cliente."
)


class SdiError(ValueError):
    """A notification that cannot be imported; the message is for a person (Italian)."""


def looks_like_notification(filename: str, data: bytes | None = None) -> bool:
    """True when the file name is an SdI notification's, or its root element is one (spool)."""
    if NAME_PATTERN.match(os.path.basename(filename)):
        return True
    if data is None:
        return False
    try:
        root = parse_xml(unwrap(data, filename))
    except FatturaPAError:
        return False
    return root.tag in ROOTS


def _datetime(value: str, what: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SdiError(f"{what} non valida: «{value[:40]}»") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_notification(data: bytes, filename: str = "") -> dict:
    """The fields of a notification file (XML or .p7m); raise SdiError with an Italian message."""
    try:
        root = parse_xml(unwrap(data, filename))
    except FatturaPAError as exc:
        raise SdiError(str(exc)) from exc
    kind = ROOTS.get(root.tag)
    if kind is None:
        raise SdiError(
            f"non è una notifica SdI: l'elemento radice è «{str(root.tag)[:60]}» (attesi {', '.join(ROOTS)})"
        )
    fields = {}
    for tag, what, size in (
        ("IdentificativoSdI", "IdentificativoSdI", 20),
        ("NomeFile", "NomeFile", 255),
        ("MessageId", "MessageId", 20),
    ):
        value = _text(root, tag)
        if not value:
            raise SdiError(f"notifica {kind} senza {what}")
        if len(value) > size or re.search(r"[\x00-\x1f\x7f/\\]", value):
            raise SdiError(f"{what} non valido: «{value[:40]}»")
        fields[tag] = value
    when = _datetime(_text(root, "DataOraConsegna") or _text(root, "DataOraRicezione"), "data e ora")
    errors = []
    if kind == "NS":
        for error in root.iterfind("ListaErrori/Errore"):
            errors.append(
                {
                    "code": _text(error, "Codice")[:10],
                    "description": _text(error, "Descrizione")[:500],
                    "hint": _text(error, "Suggerimento")[:500],
                }
            )
        if not errors:
            raise SdiError("notifica di scarto senza ListaErrori")
    outcome = ""
    if kind == "NE":
        outcome = _text(root, "EsitoCommittente/Esito")
        if outcome not in NE_OUTCOMES:
            raise SdiError(
                f"notifica di esito con un esito sconosciuto: «{outcome[:10]}» (attesi EC01, EC02)"
            )
    description = (
        _text(root, "EsitoCommittente/Descrizione") or _text(root, "Descrizione") or _text(root, "Note")
    )[:2000]
    return {
        "kind": kind,
        "sdi_id": fields["IdentificativoSdI"],
        "invoice_file": fields["NomeFile"],
        "message_id": fields["MessageId"],
        "notified_at": when,
        "errors": errors,
        "outcome": outcome,
        "description": description,
    }


def clean_file_name(value) -> str | None:
    """The invoice file name the ERP gives (API ``sdi_file_name``): None, or a plain file name."""
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > 255
        or re.search(r"[\x00-\x1f\x7f/\\]", value)
        or value.strip() != value
    ):
        raise SdiError(
            "nome del file FatturaPA non valido: un nome di file senza cartelle, al massimo 255 caratteri"
        )
    return value


def name_variants(name: str) -> list[str]:
    """A file name with and without its signature suffix (the SdI may name either)."""
    base = name[:-4] if name.lower().endswith(".p7m") else name
    return [base, base + ".p7m"]


def matching_documents(invoice_file: str) -> list[int]:
    """Ids of the documents that came in that invoice file."""
    return list(
        db.session.scalars(
            select(Document.id)
            .where(Document.sdi_file_name.in_(name_variants(invoice_file)))
            .order_by(Document.id)
        )
    )


def import_notification(data: bytes, filename: str, source: str = "cli") -> dict:
    """Parse and store one notification (caller commits); a notification already stored is a duplicate."""
    from .blobs import store_blob

    parsed = parse_notification(data, filename)
    existing = db.session.scalar(
        select(SdiNotification).where(
            SdiNotification.kind == parsed["kind"],
            SdiNotification.sdi_id == parsed["sdi_id"],
            SdiNotification.message_id == parsed["message_id"],
        )
    )
    if existing is None:
        existing = SdiNotification(
            kind=parsed["kind"],
            sdi_id=parsed["sdi_id"],
            invoice_file=parsed["invoice_file"],
            message_id=parsed["message_id"],
            file_name=os.path.basename(filename)[:255],
            notified_at=parsed["notified_at"],
            errors=parsed["errors"],
            outcome=parsed["outcome"],
            description=parsed["description"],
            blob_sha256=store_blob(data, "application/octet-stream"),
            source=source,
        )
        db.session.add(existing)
        db.session.flush()
        duplicate = False
    else:
        duplicate = True
    summary = {
        "file": filename,
        "kind": parsed["kind"],
        "sdi_id": parsed["sdi_id"],
        "invoice_file": parsed["invoice_file"],
        "documents": matching_documents(parsed["invoice_file"]),
        "duplicate": duplicate,
        "_id": existing.id,
    }
    if parsed["kind"] == "NS":
        summary["errors"] = [{"code": e["code"], "description": e["description"]} for e in parsed["errors"]]
    if parsed["kind"] == "NE":
        summary["outcome"] = parsed["outcome"]
    return summary


def import_sdi_paths(paths: list[str], source: str = "cli") -> tuple[list[dict], bool]:
    """Import files one by one, each in its own transaction; returns (results, all ok)."""
    from .audit import audit
    from .fatturapa import import_files

    def one(data: bytes, path: str) -> list[dict]:
        summary = import_notification(data, path, source=source)
        if not summary["duplicate"]:
            audit(
                "sdi.import",
                None,
                file=os.path.basename(path),
                kind=summary["kind"],
                sdi_id=summary["sdi_id"],
                notification_id=summary["_id"],
            )
        return [summary]

    return import_files(paths, one, SdiError)


# The order the SdI issued the notifications in: by the SdI's own date (DataOraConsegna / DataOraRicezione),
# those without one (NE, DT) by when they were imported, ties by import order. Not the import order alone:
# an RC imported after a later NS must not hide the NS.
SDI_ORDER = (func.coalesce(SdiNotification.notified_at, SdiNotification.created_at), SdiNotification.id)
SDI_ORDER_DESC = tuple(column.desc() for column in SDI_ORDER)


def history(document: Document) -> list[SdiNotification]:
    """The notifications about a document's invoice file, latest first."""
    if not document.sdi_file_name:
        return []
    return list(
        db.session.scalars(
            select(SdiNotification)
            .where(SdiNotification.invoice_file.in_(name_variants(document.sdi_file_name)))
            .order_by(*SDI_ORDER_DESC)
        )
    )


def _file_names(documents) -> dict[int, str]:
    """{document id: its SdI file name} for those that have one, from Document rows already in hand (a page
    of them: no query) or looked up for document ids."""
    items = list(documents)
    if all(isinstance(item, Document) for item in items):
        return {d.id: d.sdi_file_name for d in items if d.sdi_file_name}
    if not items:
        return {}
    rows = db.session.execute(
        select(Document.id, Document.sdi_file_name).where(
            Document.id.in_(items), Document.sdi_file_name.is_not(None)
        )
    )
    return {doc_id: name for doc_id, name in rows if name}


def sdi_state(documents) -> dict[int, str]:
    """{document id: kind of its latest notification (SDI_ORDER)} for the documents that have one
    (`documents`: Document rows, or their ids)."""
    names = _file_names(documents)
    if not names:
        return {}
    wanted = {variant for name in names.values() for variant in name_variants(name)}
    latest: dict[str, str] = {}
    for invoice_file, kind in db.session.execute(
        select(SdiNotification.invoice_file, SdiNotification.kind)
        .where(SdiNotification.invoice_file.in_(wanted))
        .order_by(*SDI_ORDER)
    ):
        latest[name_variants(invoice_file)[0]] = kind  # later notifications win
    return {
        doc_id: latest[name_variants(name)[0]]
        for doc_id, name in names.items()
        if name_variants(name)[0] in latest
    }


def state_condition(state: str):
    """A condition on Document for the list filter: 'none' or a kind."""
    latest_kind = (
        select(SdiNotification.kind)
        .where(
            or_(
                SdiNotification.invoice_file == Document.sdi_file_name,
                SdiNotification.invoice_file + ".p7m" == Document.sdi_file_name,
                SdiNotification.invoice_file == Document.sdi_file_name + ".p7m",
            )
        )
        .order_by(*SDI_ORDER_DESC)
        .limit(1)
        .correlate(Document)
        .scalar_subquery()
    )
    if state == "none":
        return latest_kind.is_(None)
    return latest_kind == state


def public_summary(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not k.startswith("_")}


def label(kind: str) -> str:
    return SDI_KINDS.get(kind, kind)


# --- the courtesy copy and the invoice's fate at the SdI (issue 20, points 2 and 3) --------------
SDI_TYPES = ("FATTURA", "NOTA_CREDITO")  # the types whose documents go through the SdI
FATE_KINDS = ("RC", "MC", "NS")  # the notifications that settle a file's fate (NE/DT/AT follow them)
SDI_WAITING = "In attesa dell'esito SdI"  # exclusion reason: held until an RC or MC arrives
SDI_DISCARDED = "Scartata dallo SdI"  # exclusion reason: the SdI rejected the file (NS)


def fates(documents) -> dict[int, SdiNotification]:
    """{document id: its latest (SDI_ORDER) RC, MC or NS notification} for the documents that have one
    (`documents`: Document rows, or their ids)."""
    names = {doc_id: name_variants(name)[0] for doc_id, name in _file_names(documents).items()}
    if not names:
        return {}
    wanted = {variant for name in names.values() for variant in name_variants(name)}
    latest: dict[str, SdiNotification] = {}
    for notification in db.session.scalars(
        select(SdiNotification)
        .where(SdiNotification.invoice_file.in_(wanted), SdiNotification.kind.in_(FATE_KINDS))
        .order_by(*SDI_ORDER)
    ):
        latest[name_variants(notification.invoice_file)[0]] = notification  # later notifications win
    return {doc_id: latest[name] for doc_id, name in names.items() if name in latest}


def discard_reason(notification: SdiNotification) -> str:
    """«scartata dallo SdI: 00404 Fattura duplicata; …» — the SdI's own error list, for the office."""
    errors = "; ".join(
        " ".join(part for part in (e.get("code", ""), e.get("description", "")) if part)
        for e in notification.errors or []
    )
    when = f" il {notification.notified_at:%d/%m/%Y}" if notification.notified_at else ""
    return f"scartata dallo SdI{when}: {errors or notification.description or 'nessun dettaglio'}"


def waiting_days(document: Document, today=None) -> str:
    """How long a held document has waited, in words: «da oggi», «da 1 giorno», «da 3 giorni»."""
    today = today or datetime.now(UTC).date()
    days = max(0, (today - document.date).days)
    return "da oggi" if days == 0 else f"da {days} giorn{'o' if days == 1 else 'i'}"


def mc_text(doc_type) -> str:
    """What the e-mail of an invoice with an MC says (the type's own text, else MC_TEXT)."""
    return (getattr(doc_type, "sdi_mc_text", "") or "").strip() or MC_TEXT


def delivery_block_reason(delivery_id: int) -> str | None:
    """Why a delivery must not leave now (one of its documents was discarded by the SdI), or None."""
    from ..models import delivery_documents

    doc_ids = db.session.scalars(
        select(delivery_documents.c.document_id).where(delivery_documents.c.delivery_id == delivery_id)
    ).all()
    documents = {d.id: d for d in db.session.scalars(select(Document).where(Document.id.in_(doc_ids)))}
    reasons = [
        f"{documents[doc_id].type_code} {documents[doc_id].number}: {discard_reason(n)}"
        for doc_id, n in sorted(fates(doc_ids).items())
        if n.kind == "NS"
    ]
    return "; ".join(reasons) or None
