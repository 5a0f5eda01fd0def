"""Automatic preparation per document type, once per due time; auto-approval when the admin set it."""

from __future__ import annotations

from datetime import date, datetime

from rq import Queue, SimpleWorker

from mailer.extensions import db
from mailer.models import Batch, DocumentType
from mailer.queue import get_redis
from mailer.services.schedules import run_due_schedules, validate_cron
from tests.support.batches import office_data


def _work(app):
    """Run the queued jobs."""
    redis = get_redis()
    queue = Queue(app.config["RQ_QUEUE"], connection=redis)
    for _ in range(3):
        SimpleWorker([queue], connection=redis).work(burst=True)
        db.session.remove()


def test_schedule_fires_once_and_waits_for_approval(app_ctx, smtp_server):
    """18:00 DDT schedule: one batch for the DDTs not yet sent, up to that day, left for approval."""
    office_data(smtp_server)
    db.session.get(DocumentType, "DDT").schedule_cron = "0 18 * * *"
    db.session.commit()
    at = datetime(2026, 11, 10, 18, 0, 30)
    created = run_due_schedules(at)
    assert len(created) == 1
    assert run_due_schedules(at) == []  # the same due time never fires twice
    assert (
        run_due_schedules(datetime(2026, 11, 10, 17, 59)) == []
    )  # before 18:00 only yesterday is due, already past
    batch_id = created[0]
    _work(app_ctx)
    batch = db.session.get(Batch, batch_id)
    assert batch.status == "ready" and batch.created_by_id is None
    # Every DDT not yet sent up to that day, not only the day's (12.6).
    assert batch.params["date_from"] is None and batch.params["date_to"] == date(2026, 11, 10).isoformat()
    assert batch.params["only_unsent"] is True
    assert "automatico" in batch.name


def test_auto_approved_type_goes_out(app_ctx, smtp_server):
    """With auto-approve on, the scheduled batch is approved and sent without a person."""
    office_data(smtp_server)
    ddt = db.session.get(DocumentType, "DDT")
    ddt.schedule_cron, ddt.auto_approve = "0 18 * * *", True
    db.session.commit()
    batch_id = run_due_schedules(datetime(2026, 11, 10, 18, 1))[0]
    _work(app_ctx)
    assert db.session.get(Batch, batch_id).status == "done"
    assert smtp_server.accepted_to("log@alfa.example") == 1


def test_cron_validation():
    """Bad expressions get an Italian message."""
    assert validate_cron("0 18 * * 1-5") is None
    assert "non valida" in validate_cron("alle sei")
