"""Dashboard and health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from rq import Worker

from ..extensions import db
from ..models import BATCH_STATUSES, Batch, Document, DocumentType
from ..queue import get_redis
from ..services import batch_views, segments
from ..services import campaigns as campaign_svc

bp = Blueprint("main", __name__)


@bp.route("/")
def dashboard():
    """Each role's work today: the office's documents to send, the manager's approvals, sales' campaigns."""
    user = current_user
    office = user.has_role("operator", "manager")
    context: dict = {"office": office, "sales": user.has_role("sales"), "manager": user.has_role("manager")}
    if user.has_role("operator"):
        context["unsent"] = _unsent_by_type()
    if office:
        # The batches list's rule, in SQL before LIMIT: a user with few permissions still sees theirs.
        openable = batch_views.openable_batches(user)
        recent = batch_views.newest_batches(
            openable, Batch.status.in_(["sending", "done", "cancelled"]), limit=5
        )
        context |= {
            "waiting": batch_views.newest_batches(openable, Batch.status == "ready", limit=10),
            "waiting_total": batch_views.batch_page(user, ["ready"], per_page=1).total,
            "recent": recent,
            # Counted within the user's clearance, as everywhere else: hidden recipients are not counted.
            "outcome": batch_views.counts_by_batch(
                [b.id for b in recent], user, sending={b.id for b in recent if b.status == "sending"}
            ),
            "chart": batch_views.last_30_days(user),
            "type_names": dict(db.session.execute(db.select(DocumentType.code, DocumentType.name)).all()),
        }
    if context["sales"]:
        context |= _sales_work(user)
    return render_template("main/dashboard.html", **context)


def _unsent_by_type() -> list[tuple[str, str, int]]:
    """(code, name, documents not yet sent) of the types the user may send, as the documents list counts them."""
    # Counted on documents alone, grouped by type: an index-only scan of ix_documents_sent (5 ms at 20,000
    # unsent documents; joined to the types first, PostgreSQL read the whole table: 24 ms at every visit).
    unsent = dict(
        db.session.execute(
            db.select(Document.type_code, db.func.count(Document.id))
            .where(Document.sent_at.is_(None))
            .group_by(Document.type_code)
        ).all()
    )
    types = db.session.execute(
        db.select(DocumentType.code, DocumentType.name).order_by(DocumentType.position)
    ).all()
    rows = [(code, name, unsent[code]) for code, name in types if unsent.get(code)]
    admin = current_user.has_role("admin")
    return [(code, name, n) for code, name, n in rows if admin or current_user.may_send(code)]


def _sales_work(user) -> dict:
    """Recent campaigns with their state and counts, and the saved filters with how many contacts they pick."""
    campaigns = campaign_svc.campaign_rows(user)
    recent = campaigns[:6]
    filters = campaign_svc.visible_filters(user)[:6]
    filter_counts: dict[int, segments.SegmentCount | None] = {}
    for saved in filters:
        try:
            filter_counts[saved.id] = segments.count(segments.parse_conditions(saved.conditions), user)
        except ValueError:
            filter_counts[saved.id] = None
    return {
        "campaigns_total": len(campaigns),
        "campaigns": recent,
        "campaign_counts": batch_views.counts_by_batch([c.batch_id for c in recent if c.batch_id], user),
        "saved_filters": filters,
        "filter_counts": filter_counts,
        "BATCH_STATUSES": BATCH_STATUSES,
    }


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
