"""Read-side of batches for pages, exports and the CLI: counts, progress, rows, chart data."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased, defer, joinedload, lazyload, load_only, selectinload

from ..extensions import db
from ..formatting import it_datetime
from ..models import (
    DELIVERY_STATUSES,
    Batch,
    Contact,
    Delivery,
    Document,
    MailAccount,
    Party,
    delivery_documents,
    utcnow,
)
from ..queue import REDIS_DOWN, get_redis
from .pagination import page_count, paginate
from .search import matches_any

# What the CLI and exports call each state.
REPORT_STATUS = {
    "sent": "sent",
    "failed": "failed",
    "uncertain": "uncertain",
    "excluded": "excluded",
    "norecipient": "excluded",
    "cancelled": "excluded",
    "bounced": "failed",
    "pending": "pending",
    "queued": "pending",
    "sending": "pending",
}


def visible_to(clearance: int, entity=Delivery):
    """SQL condition: the delivery is within this clearance (`entity`: Delivery or an alias of it).

    Both the level copied at preparation and its contact's level now must allow it: a contact made
    confidential afterwards disappears from earlier batches too (search, previews, .eml, exports,
    receipts, approval), while lowering a contact does not uncover what its deliveries quoted when it
    was confidential (an address since replaced, say). A deleted contact's level stays in the copy
    (contacts.delete_contact raises it first).
    """
    contact = _raised_contact()
    raised = (
        select(contact.id)
        .where(contact.id == entity.contact_id, contact.privacy_level > int(clearance))
        .correlate_except(contact)
    )
    return and_(entity.privacy_level <= int(clearance), not_(exists(raised)))


@functools.cache
def _raised_contact():
    """The alias of Contact that `visible_to` looks up, made once: building an alias copies every column
    of the table (3 ms, several times on every batch page)."""
    return aliased(Contact, name="raised_contact")


def visible(query, user):
    """Restrict a Delivery query to what the user's clearance allows."""
    return query.where(visible_to(user.privacy_clearance)) if user is not None else query


def visible_delivery(batch_id: int, delivery_id: int, user) -> Delivery | None:
    """One delivery of the batch, if the user's clearance allows it (None for hidden and missing alike)."""
    return db.session.scalar(
        visible(select(Delivery).where(Delivery.id == delivery_id, Delivery.batch_id == batch_id), user)
    )


# ---------------------------------------------------------------- who opens which batch


def may_open_batch(user, batch: Batch) -> bool:
    """The batch is the user's to open (the rule of `openable_batches`, for one batch in hand).

    Administrators open every batch; anybody else must be allowed to send every one of its types
    (User.may_open_types). A campaign batch is then for who prepared it and for managers; a
    documents batch for operators and managers.
    """
    if user.has_role("admin"):
        return True
    if not user.may_open_types(batch.type_codes):
        return False
    if batch.kind == "campaign":
        return user.has_role("manager") or (
            batch.created_by_id is not None and batch.created_by_id == user.id
        )
    return user.has_role("operator", "manager")


def _types_allowed(user):
    """SQL condition on Batch: the user may send every one of its document types (may_open_types)."""
    codes = sorted(user.send_type_codes)
    if db.session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements_text(Batch.type_codes).table_valued("value")
    else:
        elements = func.json_each(Batch.type_codes).table_valued("value")
    return not_(exists(select(1).select_from(elements).where(elements.c.value.not_in(codes))))


def openable_batches(user):
    """SQL condition on Batch: the batches `may_open_batch` lets the user open, for lists and counts."""
    if user.has_role("admin"):
        return true()
    campaign = true() if user.has_role("manager") else (Batch.created_by_id == user.id)
    documents = true() if user.has_role("operator", "manager") else false()
    return and_(
        _types_allowed(user),
        or_(and_(Batch.kind == "campaign", campaign), and_(Batch.kind != "campaign", documents)),
    )


def _kept(key: str, seconds: int, compute: Callable[[], Any]) -> Any:
    """compute(), kept `seconds` in Redis under `key` as JSON (0, or Redis away: computed every time)."""
    if seconds:
        try:
            kept = get_redis().get(key)
            if kept is not None:
                return json.loads(kept)
        except REDIS_DOWN:
            seconds = 0  # Redis away: count now, keep nothing
    value = compute()
    if seconds:
        with contextlib.suppress(*REDIS_DOWN):  # computed anyway: the next view computes again
            get_redis().set(key, json.dumps(value), ex=seconds)
    return value


def _clearance_key(user) -> str:
    """What the visible counts depend on: the clearance ('all' without a user)."""
    return "all" if user is None else str(int(user.privacy_clearance or 0))


def _grouped_counts(batch_ids: list[int], user) -> dict[int, dict[str, int]]:
    """Deliveries per batch and state in one grouped query (only those the user may see)."""
    query = (
        select(Delivery.batch_id, Delivery.status, db.func.count(Delivery.id))
        .where(Delivery.batch_id.in_(batch_ids))
        .group_by(Delivery.batch_id, Delivery.status)
    )
    result: dict[int, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
    for batch_id, status, n in db.session.execute(visible(query, user)).all():
        result[batch_id][status] = n
    return result


def counts_by_batch(
    batch_ids: list[int], user=None, sending: Collection[int] = ()
) -> dict[int, dict[str, int]]:
    """Deliveries per batch and state (only those the user may see); those of the batches in `sending`
    (being sent: their counts change every moment) as `counts(..., sending=True)` keeps them."""
    if not batch_ids:
        return {}
    live = [batch_id for batch_id in batch_ids if batch_id not in sending]
    result = _grouped_counts(live, user) if live else {}
    for batch_id in batch_ids:
        if batch_id in sending:
            result[batch_id] = counts(batch_id, user, sending=True)
    return result


@dataclass
class BatchPage:
    """One page of the batches list, its figures for the pager and each batch's counts."""

    batches: list[Batch]
    total: int
    page: int
    pages: int
    counts: dict[int, dict[str, int]]


def newest_batch_ids(*conditions):
    """The ids of the batches matching the conditions, newest first (a select to page through)."""
    return select(Batch.id).where(*conditions).order_by(Batch.created_at.desc(), Batch.id.desc())


def newest_batches(*conditions, limit: int) -> list[Batch]:
    """The `limit` newest batches matching the conditions (the dashboard's short lists)."""
    return load_batches(list(db.session.scalars(newest_batch_ids(*conditions).limit(limit))))


def load_batches(ids: list[int]) -> list[Batch]:
    """The batches with these ids, in this order.

    A page is chosen on ids alone (sorting whole rows, with their JSON columns and the joined
    users, cost SQLite three times as much on 5,000 batches); the rows are loaded afterwards.
    """
    if not ids:
        return []
    rows = {b.id: b for b in db.session.scalars(select(Batch).where(Batch.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def batch_page(user, statuses: list[str] | None = None, page: int = 1, per_page: int = 50) -> BatchPage:
    """The batches the user may open, newest first, one page of them, counted in one grouped query."""
    conditions = [openable_batches(user)]
    if statuses:
        conditions.append(Batch.status.in_(statuses))
    found = paginate(newest_batch_ids(*conditions), page, per_page)
    batches = load_batches(found.items)
    return BatchPage(
        batches=batches,
        total=found.total or 0,
        page=found.page,
        pages=page_count(found.total or 0, per_page),
        counts=counts_by_batch(
            [b.id for b in batches], user, sending={b.id for b in batches if b.status == "sending"}
        ),
    )


def counts(batch_id: int, user=None, sending: bool = False) -> dict[str, int]:
    """Deliveries per state (only those the user may see).

    `sending`: the batch is being sent. Its counts then change at every message and every open page asks
    for them again (the progress bar once a second): they are kept BATCH_COUNTS_SECONDS in Redis per batch
    and clearance, so fifty people watching a 20,000-message batch count it once in that time instead of
    fifty times (each count reads all its deliveries: 15-20 ms on PostgreSQL). What the pages show is then
    at most that old; a batch at rest is always counted afresh (a cancelled batch shows its cancellations).
    """

    def count() -> dict[str, int]:
        query = select(Delivery.status, db.func.count(Delivery.id)).where(Delivery.batch_id == batch_id)
        return dict(db.session.execute(visible(query, user).group_by(Delivery.status)).all())

    seconds = int(current_app.config.get("BATCH_COUNTS_SECONDS") or 0) if sending else 0
    return _kept(f"recapito:batch-counts:{batch_id}:{_clearance_key(user)}", seconds, count)


def progress(batch: Batch, user=None, known_counts: dict[str, int] | None = None) -> dict:
    """Progress of preparation or sending: done, total, percent, rate per minute, seconds left
    (`known_counts`: the batch's `counts` for this user when the caller has them already)."""
    if batch.status == "preparing":
        total = batch.progress_total or 0
        done = batch.progress_done or 0
        return {
            "phase": "preparing",
            "done": done,
            "total": total,
            "percent": int(100 * done / total) if total else 0,
            "rate": None,
            "eta": None,
            "counts": {},
        }
    c = counts(batch.id, user, sending=batch.status == "sending") if known_counts is None else known_counts
    finished = sum(c.get(s, 0) for s in ("sent", "failed", "uncertain", "cancelled", "bounced"))
    total = finished + sum(c.get(s, 0) for s in ("queued", "sending", "pending"))
    since = utcnow() - timedelta(seconds=60)
    recent = (
        db.session.scalar(
            visible(
                select(db.func.count(Delivery.id)).where(
                    Delivery.batch_id == batch.id, Delivery.sent_at >= since
                ),
                user,
            )
        )
        or 0
    )
    left = total - finished
    eta = int(left / (recent / 60)) if recent and left else None
    return {
        "phase": "sending",
        "done": finished,
        "total": total,
        "percent": int(100 * finished / total) if total else 100,
        "rate": recent,
        "eta": eta,
        "counts": c,
    }


# Results filters on what came back after sending (PEC receipts, bounces), by view key.
TRACKING_FILTERS = {
    "accepted": Delivery.pec_accepted_at.is_not(None),
    "delivered": Delivery.pec_delivered_at.is_not(None),
    "notdelivered": Delivery.pec_failed_at.is_not(None),
    "bounced": Delivery.bounced_at.is_not(None),
}


def delivery_rows(
    batch_id: int,
    user,
    statuses: list[str] | None = None,
    search: str = "",
    page: int = 1,
    per_page: int = 100,
    tracking: str | None = None,
    counts: dict[str, int] | None = None,
) -> tuple[list[Delivery], int]:
    """One page of a batch's deliveries for a table, with their total (`tracking`: a TRACKING_FILTERS key);
    a page past the end is empty. `counts`: the batch's `counts` for this user, when the caller has them:
    without a search or a tracking filter the total is their sum, not a second count of every delivery."""
    # Only what the table shows is loaded (100 rows a page, the two pages of a batch that fifty people keep
    # open): no message text (kilobytes each); no account joined to each row (the page has the accounts by
    # id); of the party its name, not its zone, agent and category joined in; of each document what its
    # cell, SdI badge and «Già inviato» note read, not its party nor its JSON columns.
    query = visible(
        select(Delivery)
        .where(Delivery.batch_id == batch_id)
        .options(
            defer(Delivery.body_html),
            defer(Delivery.body_text),
            lazyload(Delivery.account),
            joinedload(Delivery.party).options(load_only(Party.id, Party.name), lazyload("*")),
            selectinload(Delivery.documents).options(
                load_only(
                    Document.id,
                    Document.type_code,
                    Document.number,
                    Document.sdi_file_name,
                    Document.sent_at,
                ),
                # Each document's type was joined to its row and, being in the session already, checked
                # attribute by attribute for each row (0.1 ms each): looked up once per type instead.
                lazyload(Document.party),
                lazyload(Document.type),
            ),
        ),
        user,
    )
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    if tracking in TRACKING_FILTERS:
        query = query.where(TRACKING_FILTERS[tracking])
    if search:
        query = query.outerjoin(Party, Party.id == Delivery.party_id).where(
            matches_any((Delivery.recipient_email, Party.name), search)
        )
    query = query.order_by(Delivery.id)
    if counts is None or search or tracking in TRACKING_FILTERS:
        found = paginate(query, page, per_page, last_if_past_end=False)
        return found.items, found.total or 0
    total = sum(n for status, n in counts.items() if not statuses or status in statuses)
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return list(rows), total


REPORT_FIELDS = [
    "recipient",
    "name",
    "party",
    "documents",
    "status",
    "account",
    "attempts",
    "smtp_code",
    "reason",
    "message_id",
    "sent_at",
    "pec_accepted_at",
    "pec_delivered_at",
    "pec_failed_at",
    "bounced_at",
]


def report_records(batch_id: int, user=None, statuses: list[str] | None = None) -> list[dict]:
    """One record per delivery (only those in `statuses`, when given): what the CLI report and the exports contain."""
    accounts = dict(db.session.execute(select(MailAccount.id, MailAccount.name)).all())
    query = visible(select(Delivery).where(Delivery.batch_id == batch_id), user)
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    rows = db.session.scalars(query.order_by(Delivery.id))
    records = []
    for d in rows:
        # What came back after sending says more than the SMTP "250 OK" of the sending.
        reason = d.bounce_reason or d.pec_failure_reason or d.smtp_reason or d.exclusion_reason or ""
        records.append(
            {
                "recipient": d.recipient_email,
                "name": d.recipient_name,
                "party": d.party.name if d.party else "",
                "documents": ", ".join(f"{doc.type_code} {doc.number}" for doc in d.documents),
                "status": REPORT_STATUS.get(d.status, d.status),
                "account": accounts.get(d.account_id, ""),
                "attempts": d.attempts,
                "smtp_code": d.smtp_code,
                "reason": reason,
                "message_id": (d.message_id or "").strip("<>"),
                "message_date": d.message_date or "",
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "pec_accepted_at": d.pec_accepted_at.isoformat() if d.pec_accepted_at else None,
                "pec_delivered_at": d.pec_delivered_at.isoformat() if d.pec_delivered_at else None,
                "pec_failed_at": d.pec_failed_at.isoformat() if d.pec_failed_at else None,
                "bounced_at": d.bounced_at.isoformat() if d.bounced_at else None,
                "state_it": DELIVERY_STATUSES.get(d.status, d.status),
            }
        )
    return records


EXPORT_HEADERS = [
    "Destinatario",
    "Nome",
    "Anagrafica",
    "Documenti",
    "Esito",
    "Account",
    "Tentativi",
    "Codice SMTP",
    "Motivo",
    "Message-ID",
    "Inviato il",
    "PEC accettata",
    "PEC consegnata",
    "PEC mancata consegna",
    "Rimbalzata",
]


def _export_row(record: dict) -> list:
    """A record as an export row (Italian state and dates)."""

    def when(value):
        from datetime import datetime

        return it_datetime(datetime.fromisoformat(value)) if value else ""

    from .spreadsheets import safe_cell  # names and server answers come from outside: no formulas in Excel

    return [
        safe_cell(v)
        for v in (
            record["recipient"],
            record["name"],
            record["party"],
            record["documents"],
            record["state_it"],
            record["account"],
            record["attempts"],
            record["smtp_code"] or "",
            record["reason"],
            record["message_id"],
            when(record["sent_at"]),
            when(record["pec_accepted_at"]),
            when(record["pec_delivered_at"]),
            when(record["pec_failed_at"]),
            when(record["bounced_at"]),
        )
    ]


def export_csv(batch_id: int, user, statuses: list[str] | None = None) -> bytes:
    """Results as CSV (semicolon separated, UTF-8 with BOM: what Italian Excel opens correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(EXPORT_HEADERS)
    for record in report_records(batch_id, user, statuses):
        writer.writerow(_export_row(record))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(batch_id: int, user) -> bytes:
    """Results as an Excel workbook."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"Invio {batch_id}"
    sheet.append(EXPORT_HEADERS)
    for record in report_records(batch_id, user):
        sheet.append(_export_row(record))
    for column, width in zip(
        "ABCDEFGHIJKLMNO", (32, 24, 30, 30, 16, 14, 9, 10, 60, 40, 16, 16, 16, 16, 16), strict=True
    ):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def last_30_days(user=None) -> dict:
    """Sent and failed per day and per document type over the last 30 days (for the dashboard chart), kept
    DASHBOARD_CHART_SECONDS in Redis per clearance (what the query depends on) and day."""
    start = (utcnow() - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = int(current_app.config.get("DASHBOARD_CHART_SECONDS") or 0)
    key = f"recapito:chart30:{_clearance_key(user)}:{start.date().isoformat()}"
    return _kept(key, seconds, lambda: _count_30_days(start, user))


def _count_30_days(start, user) -> dict:
    """The chart's figures from the deliveries."""
    day = db.func.date(db.func.coalesce(Delivery.sent_at, Delivery.claimed_at))
    query = (
        select(day, Document.type_code, Delivery.status, db.func.count(db.distinct(Delivery.id)))
        .join(delivery_documents, delivery_documents.c.delivery_id == Delivery.id)
        .join(Document, Document.id == delivery_documents.c.document_id)
        .where(
            Delivery.status.in_(["sent", "failed", "bounced"]),
            db.func.coalesce(Delivery.sent_at, Delivery.claimed_at) >= start,
        )
        .group_by(day, Document.type_code, Delivery.status)
    )
    per_day: dict[str, dict[str, int]] = {}
    per_type: dict[str, dict[str, int]] = {}
    for d, type_code, status, n in db.session.execute(visible(query, user)).all():
        key = str(d)[:10]
        bucket = "sent" if status == "sent" else "failed"
        per_day.setdefault(key, {"sent": 0, "failed": 0})[bucket] += n
        per_type.setdefault(type_code, {"sent": 0, "failed": 0})[bucket] += n
    days = [(start + timedelta(days=i)).date().isoformat() for i in range(30)]
    series: list[dict[str, Any]] = [{"day": d, **per_day.get(d, {"sent": 0, "failed": 0})} for d in days]
    peak = max([s["sent"] + s["failed"] for s in series] + [1])
    return {"series": series, "peak": peak, "per_type": per_type}
