"""Dashboard and health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from rq import Worker

from ..extensions import db
from ..models import Batch, Document, DocumentType
from ..queue import get_redis
from ..services import batch_views

bp = Blueprint("main", __name__)


@bp.route("/")
def dashboard():
    """What matters today: documents not yet sent by type, batches to approve, last results."""
    unsent = db.session.execute(
        db.select(DocumentType.code, DocumentType.name, db.func.count(Document.id))
        .join(Document, Document.type_code == DocumentType.code)
        .where(Document.sent_at.is_(None))
        .group_by(DocumentType.code, DocumentType.name, DocumentType.position)
        .order_by(DocumentType.position)
    ).all()
    # The batches list's rule, in SQL before LIMIT: a user with few permissions still sees theirs.
    openable = batch_views.openable_batches(current_user)
    waiting = batch_views.newest_batches(openable, Batch.status == "ready", limit=10)
    recent = batch_views.newest_batches(openable, Batch.status.in_(["sending", "done", "cancelled"]), limit=5)
    # Counted within the user's clearance, as everywhere else: hidden recipients are not counted.
    outcome = batch_views.counts_by_batch([b.id for b in recent], current_user)
    return render_template(
        "main/dashboard.html",
        unsent=unsent,
        waiting=waiting,
        recent=recent,
        outcome=outcome,
        chart=batch_views.last_30_days(current_user),
        type_names=dict(db.session.execute(db.select(DocumentType.code, DocumentType.name)).all()),
    )


def health_report() -> tuple[dict, bool]:
    """Check the database, Redis and the workers; return (report, all fine)."""
    report: dict = {}
    try:
        db.session.execute(db.text("SELECT 1"))
        report["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - the point is to report any failure
        db.session.rollback()
        report["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        redis = get_redis()
        redis.ping()
        report["redis"] = {"ok": True}
        registered = len(Worker.all(connection=redis))
        # rq registers a worker when it starts and refreshes that between jobs: a worker deep in a long
        # send, or one that has not finished its job since Redis restarted, is missing from it. Each
        # running sender keeps its own heartbeat (services.sending.Sender.beat), one job of one worker.
        busy = sum(1 for _ in redis.scan_iter("recapito:sender:*", count=1000))
        count = max(registered, busy)
        report["workers"] = {"ok": count > 0, "count": count}
    except Exception as exc:  # noqa: BLE001 - any failure of Redis or rq is reported, not raised
        report["redis"] = {"ok": False, "error": type(exc).__name__}
        report["workers"] = {
            "ok": False,
            "count": 0,
            "error": "Redis non raggiungibile: worker non verificabili",
        }
    return report, all(part["ok"] for part in report.values())


@bp.route("/healthz")
def healthz():
    """JSON health: 200 when database, Redis and at least one worker are fine, else 503."""
    report, ok = health_report()
    report["status"] = "ok" if ok else "degraded"
    return jsonify(report), 200 if ok else 503
