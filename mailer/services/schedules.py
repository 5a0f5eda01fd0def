"""Automatic preparation on a schedule per document type ("every day at 18:00, the day's DDT")."""
from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from sqlalchemy import select

from ..extensions import db
from ..formatting import ROME
from ..models import DocumentType
from ..queue import get_redis
from .preparation import PreparationError, Selection, create_batch

# A schedule missed for longer than this (worker down) is not caught up: a person prepares by hand.
CATCH_UP = timedelta(minutes=30)


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


def run_due_schedules(now: datetime | None = None) -> list[int]:
    """Create the batches whose schedule fell due; each due time fires once (Redis guard). Returns batch ids.

    Schedules are read in Italian local time (naive `now` is taken as such).
    """
    now = now or datetime.now(ROME)
    if now.tzinfo is not None:  # naive times are already Italian local time
        now = now.astimezone(ROME).replace(tzinfo=None)
    redis = get_redis()
    created = []
    types = db.session.scalars(select(DocumentType).where(DocumentType.schedule_cron != "")).all()
    for doc_type in types:
        if validate_cron(doc_type.schedule_cron):
            continue
        fire = last_fire(doc_type.schedule_cron, now)
        if now - fire > CATCH_UP:
            continue
        if not redis.set(f"recapito:schedule:{doc_type.code}:{fire.isoformat()}", "1", nx=True, ex=3 * 86400):
            continue
        selection = Selection(type_codes=[doc_type.code], date_from=fire.date(), date_to=fire.date())
        try:
            batch = create_batch(selection, None, name=f"{doc_type.name} del {fire:%d/%m/%Y} (automatico)")
        except PreparationError:
            continue
        batch.params = {**batch.params, "scheduled": True}
        db.session.commit()
        created.append(batch.id)
    return created
