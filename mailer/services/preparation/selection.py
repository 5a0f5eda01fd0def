"""What a preparation is asked for: the selection of documents, who may ask it, and the batch it creates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from ...extensions import db
from ...formatting import DateInputError, parse_it_date, plural
from ...models import (
    Batch,
    Delivery,
    Document,
    DocumentType,
    Party,
    User,
    delivery_documents,
)
from ...queue import PREPARE_BATCH_JOB
from ...queue import enqueue as enqueue_job
from ..audit import audit

ACTIVE_BATCH_STATES = ("preparing", "ready", "approved", "sending", "paused")
PROGRESS_EVERY = 100


UNPREPARABLE = (
    "Documento non preparabile"  # exclusion reason of a document whose PDF or e-mail cannot be rendered
)


class PreparationError(Exception):
    """The preparation request is not acceptable (message in Italian)."""


class NothingToPrepare(PreparationError):
    """The selection holds no document to send: no batch is created."""


@dataclass
class Selection:
    """Which documents to prepare."""

    type_codes: list[str]
    date_from: date | None = None
    date_to: date | None = None
    only_unsent: bool = True
    party_ids: list[int] = field(default_factory=list)
    zone_id: int | None = None
    agent_id: int | None = None
    category_id: int | None = None
    document_ids: list[int] = field(default_factory=list)

    def as_params(self) -> dict:
        """JSON-able form for Batch.params."""
        return {
            "type_codes": self.type_codes,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "only_unsent": self.only_unsent,
            "party_ids": self.party_ids,
            "zone_id": self.zone_id,
            "agent_id": self.agent_id,
            "category_id": self.category_id,
            "document_ids": self.document_ids,
        }

    @classmethod
    def from_params(cls, params: dict) -> Selection:
        """Rebuild from Batch.params."""
        return cls(
            type_codes=list(params.get("type_codes") or []),
            date_from=date.fromisoformat(params["date_from"]) if params.get("date_from") else None,
            date_to=date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
            only_unsent=bool(params.get("only_unsent", True)),
            party_ids=list(params.get("party_ids") or []),
            zone_id=params.get("zone_id"),
            agent_id=params.get("agent_id"),
            category_id=params.get("category_id"),
            document_ids=list(params.get("document_ids") or []),
        )


def parse_date(value: str | None, label: str) -> date | None:
    """A dd/mm/yyyy (or YYYY-MM-DD) date from a form or the command line (None when empty); PreparationError."""
    try:
        return parse_it_date(value, label)
    except DateInputError as exc:
        raise PreparationError(str(exc)) from None


def check_permission(user: User | None, type_codes: list[str]) -> None:
    """A user may prepare only the types they may send."""
    if user is None:
        return
    known = set(db.session.scalars(select(DocumentType.code)))
    unknown = [c for c in type_codes if c not in known]
    if unknown:
        raise PreparationError(f"Tipo di documento sconosciuto: {', '.join(unknown)}.")
    denied = [c for c in type_codes if not user.may_send(c)]
    if denied:
        raise PreparationError(f"Non sei autorizzato a inviare: {', '.join(denied)}.")


def create_batch(
    selection: Selection,
    user: User | None,
    name: str = "",
    enqueue: bool = True,
    scheduled: bool = False,
    base_url: str = "",
    **audit_details,
) -> Batch:
    """Record a batch to prepare and start its preparation job; returns the batch (status preparing).

    `base_url`: the address the batch was prepared from, for the links of its summary e-mail when
    PUBLIC_BASE_URL is not set; `audit_details` join the audit entry (e.g. the API token that asked).
    NothingToPrepare (no batch) when the selection holds no document to send."""
    if not selection.type_codes and not selection.document_ids:
        raise PreparationError("Scegli almeno un tipo di documento.")
    if selection.document_ids and not selection.type_codes:
        selection.type_codes = sorted(
            set(db.session.scalars(select(Document.type_code).where(Document.id.in_(selection.document_ids))))
        )
    if selection.date_from and selection.date_to and selection.date_from > selection.date_to:
        raise PreparationError("La data iniziale è successiva a quella finale.")
    check_permission(user, selection.type_codes)
    if not select_documents(selection):
        raise NothingToPrepare(nothing_message(selection))
    params = {
        **selection.as_params(),
        **({"scheduled": True} if scheduled else {}),
        **({"base_url": base_url.rstrip("/")} if base_url else {}),
    }
    batch = Batch(
        kind="documents",
        status="preparing",
        params=params,
        type_codes=selection.type_codes,
        created_by_id=user.id if user else None,
        name=name or _default_name(selection),
    )
    db.session.add(batch)
    db.session.flush()
    audit("batch.prepare", batch, user=user, types=selection.type_codes, **audit_details)
    db.session.commit()
    if enqueue:
        start_preparation(batch)
    return batch


def start_preparation(batch: Batch) -> None:
    """Enqueue the preparation job of a committed batch (status preparing) and note its job id."""
    job = enqueue_job(
        PREPARE_BATCH_JOB, batch.id, job_timeout=3600, description=f"preparazione invio {batch.id}"
    )
    batch.job_id = job.id
    db.session.commit()


def nothing_message(selection: Selection) -> str:
    """Why a selection gives no batch, and what to do (Italian)."""
    if selection.document_ids:
        return (
            "Nessun documento da preparare: i documenti scelti sono già in un invio da approvare o in corso "
            "(scartalo o attendi che finisca)."
        )
    which = "non ancora inviato " if selection.only_unsent else ""
    return (
        f"Nessun documento da preparare: nessun documento {which}di questi tipi e periodo, fuori dagli invii "
        "da approvare o in corso. Cambia tipi o periodo"
        + (", oppure scegli «tutti, anche già inviati»." if selection.only_unsent else ".")
    )


def _default_name(selection: Selection) -> str:
    """A readable batch name: types and period."""
    names = dict(db.session.execute(select(DocumentType.code, DocumentType.name)).all())
    types = ", ".join(names.get(c, c) for c in selection.type_codes)
    if selection.document_ids:
        return f"{types} – {plural(len(selection.document_ids), 'documento scelto', 'documenti scelti')}"
    period = ""
    if selection.date_from or selection.date_to:
        a = selection.date_from.strftime("%d/%m/%Y") if selection.date_from else "…"
        b = selection.date_to.strftime("%d/%m/%Y") if selection.date_to else "…"
        period = f" dal {a} al {b}"
    return types + period


def select_documents(selection: Selection, batch_id: int | None = None) -> list[int]:
    """Ids of the documents the selection covers, skipping those already in another active batch."""
    query = select(Document.id).join(Party, Party.id == Document.party_id)
    if selection.document_ids:
        query = query.where(Document.id.in_(selection.document_ids))
    else:
        query = query.where(Document.type_code.in_(selection.type_codes))
        if selection.date_from:
            query = query.where(Document.date >= selection.date_from)
        if selection.date_to:
            query = query.where(Document.date <= selection.date_to)
        if selection.only_unsent:
            query = query.where(Document.sent_at.is_(None))
    if selection.party_ids:
        query = query.where(Document.party_id.in_(selection.party_ids))
    if selection.zone_id:
        query = query.where(Party.zone_id == selection.zone_id)
    if selection.agent_id:
        query = query.where(Party.agent_id == selection.agent_id)
    if selection.category_id:
        query = query.where(Party.category_id == selection.category_id)
    busy = (
        select(delivery_documents.c.document_id)
        .join(Delivery, Delivery.id == delivery_documents.c.delivery_id)
        .join(Batch, Batch.id == Delivery.batch_id)
        .where(Batch.status.in_(ACTIVE_BATCH_STATES), Delivery.status.notin_(["excluded", "cancelled"]))
    )
    if batch_id:
        busy = busy.where(Batch.id != batch_id)
    query = query.where(Document.id.notin_(busy)).order_by(Document.party_id, Document.date, Document.id)
    return list(db.session.scalars(query))
