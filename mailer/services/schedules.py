"""Automatic preparation on a schedule per document type ("every day at 18:00, the DDT not yet sent").

Each run takes every document of the type not yet sent and not already in a batch (not only the day's),
so nothing is left behind by a run that found contacts missing or a batch that was rejected. A due time
missed while the scheduler was down is caught up at the next tick however late, once (the last due time
run is stored per type). A run with nothing to send creates no batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from sqlalchemy import or_, select, update

from ..extensions import db, execute_rowcount
from ..formatting import ROME
from ..models import Batch, DocumentType, utcnow
from .preparation import PreparationError, Selection, create_batch

# A preparation job runs at most this long (its job timeout): an older batch still "preparing" lost its job
# (e.g. Redis restarted empty) and must not hold its type's schedule back for ever.
PREPARATION_TIMEOUT = timedelta(hours=1)
# A schedule that never ran yet does not catch up a due time older than this (it was just set).
FIRST_RUN_WINDOW = timedelta(minutes=30)


def validate_cron(expression: str) -> str | None:
    """An Italian error message for an invalid cron expression, or None."""
    expression = (expression or "").strip()
    if not expression:
        return None
    if not croniter.is_valid(expression):
        return "Pianificazione non valida: usa il formato cron, es. «0 18 * * 1-5» (18:00 dal lunedì al venerdì)."
    return None


def last_fire(expression: str, now: datetime) -> datetime:
    """The latest time at or before `now` (Italian local time) when the schedule fires."""
    return croniter(expression, now + timedelta(seconds=1)).get_prev(datetime)


def _claim(code: str, fire: datetime) -> bool:
    """Record `fire` as the type's last run unless a run at or after it is recorded (compare and set):
    true for exactly one caller, however many schedulers tick at once."""
    changed = execute_rowcount(
        update(DocumentType)
        .where(
            DocumentType.code == code,
            or_(DocumentType.schedule_last_run.is_(None), DocumentType.schedule_last_run < fire),
        )
        .values(schedule_last_run=fire)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(changed)


def _being_prepared(code: str) -> bool:
    """Whether a batch of the type is still being prepared: its documents are not linked to it yet, so a
    new batch would take them again. The due time waits (unclaimed) for the next tick."""
    preparing = db.session.scalars(
        select(Batch.type_codes).where(
            Batch.status == "preparing", Batch.created_at >= utcnow() - PREPARATION_TIMEOUT
        )
    ).all()
    return any(code in (codes or []) for codes in preparing)


def run_due_schedules(now: datetime | None = None) -> list[int]:
    """Create the batches whose schedule fell due; each due time runs once. Returns batch ids.

    Schedules are read in Italian local time (naive `now` is taken as such).
    """
    now = now or datetime.now(ROME)
    if now.tzinfo is not None:  # naive times are already Italian local time
        now = now.astimezone(ROME).replace(tzinfo=None)
    created = []
    types = db.session.scalars(select(DocumentType).where(DocumentType.schedule_cron != "")).all()
    for doc_type in types:
        if validate_cron(doc_type.schedule_cron):
            continue
        fire = last_fire(doc_type.schedule_cron, now)
        if doc_type.schedule_last_run is None and now - fire > FIRST_RUN_WINDOW:
            continue
        if doc_type.schedule_last_run is not None and fire <= doc_type.schedule_last_run:
            continue
        code, name = doc_type.code, doc_type.name
        if _being_prepared(code) or not _claim(code, fire):
            continue
        selection = Selection(type_codes=[code], date_to=fire.date(), only_unsent=True)
        try:
            batch = create_batch(
                selection, None, name=f"{name} del {fire:%d/%m/%Y} (automatico)", scheduled=True
            )
        except PreparationError:  # nothing to send: no batch
            db.session.rollback()
            continue
        created.append(batch.id)
    return created
