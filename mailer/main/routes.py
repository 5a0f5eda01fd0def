"""Dashboard and health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from rq import Worker

from ..extensions import db
from ..models import Batch, Delivery, Document, DocumentType
from ..queue import get_redis

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
    waiting = [b for b in db.session.scalars(
        db.select(Batch).where(Batch.status == "ready").order_by(Batch.created_at.desc()).limit(100)
    ) if _may_see_batch(b)][:10]
    recent = [b for b in db.session.scalars(
        db.select(Batch).where(Batch.status.in_(["sending", "done", "cancelled"]))
        .order_by(Batch.created_at.desc()).limit(100)
    ) if _may_see_batch(b)][:5]
    outcome = {}
    if recent:
        # Counted within the user's clearance, as everywhere else: hidden recipients are not counted.
        rows = db.session.execute(
            db.select(Delivery.batch_id, Delivery.status, db.func.count(Delivery.id))
            .where(Delivery.batch_id.in_([b.id for b in recent]),
                   Delivery.privacy_level <= current_user.privacy_clearance)
            .group_by(Delivery.batch_id, Delivery.status)
        ).all()
        for batch_id, status, count in rows:
            outcome.setdefault(batch_id, {})[status] = count
    from ..services.batch_views import last_30_days
    return render_template("main/dashboard.html", unsent=unsent, waiting=waiting, recent=recent, outcome=outcome,
                           chart=last_30_days(current_user), type_names=dict(
                               db.session.execute(db.select(DocumentType.code, DocumentType.name)).all()))


def _may_see_batch(batch: Batch) -> bool:
    """The batches page's rule: office roles see the batches of types they may send, sales their campaigns."""
    if current_user.has_role("admin"):
        return True
    if not current_user.has_role("operator", "manager"):
        return current_user.has_role("sales") and batch.kind == "campaign"
    return current_user.may_open_types(batch.type_codes)


def health_report() -> tuple[dict, bool]:
    """Check the database, Redis and the workers; return (report, all fine)."""
    report: dict = {}
    try:
        db.session.execute(db.text("SELECT 1"))
        report["database"] = {"ok": True}
    except Exception as exc:  # the point is to report any failure
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
    except Exception as exc:
        report["redis"] = {"ok": False, "error": type(exc).__name__}
        report["workers"] = {"ok": False, "count": 0, "error": "Redis non raggiungibile: worker non verificabili"}
    return report, all(part["ok"] for part in report.values())


@bp.route("/healthz")
def healthz():
    """JSON health: 200 when database, Redis and at least one worker are fine, else 503."""
    report, ok = health_report()
    report["status"] = "ok" if ok else "degraded"
    return jsonify(report), 200 if ok else 503
