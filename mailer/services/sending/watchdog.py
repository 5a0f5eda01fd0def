"""The watchdog: dead senders' claims become uncertain; batches that lost their senders get new ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from ...extensions import db
from ...models import Batch, Delivery, utcnow
from ...queue import get_redis
from .. import webhooks
from .commands import dispatch
from .outcomes import _finish_if_complete
from .settings import _heartbeat_seconds, changed_rows


def recover_stalled(grace_seconds: float | None = None) -> dict:
    """Watchdog: dead senders' claims become uncertain; batches without senders get new ones."""
    redis = get_redis()
    grace = _heartbeat_seconds() if grace_seconds is None else grace_seconds
    cutoff = utcnow() - timedelta(seconds=grace)
    report = {"uncertain": 0, "redispatched": 0}
    stalled = db.session.execute(
        db.select(Delivery.id, Delivery.claimed_by, Delivery.batch_id, Delivery.account_id).where(
            Delivery.status == "sending", Delivery.claimed_at <= cutoff
        )
    ).all()
    for delivery_id, token, batch_id, account_id in stalled:
        if redis.exists(f"recapito:sender:{batch_id}:{account_id}:{token}"):
            continue
        changed = changed_rows(
            db.session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.claimed_by == token)
                .values(
                    status="uncertain",
                    smtp_reason=(
                        "Il processo di invio si è interrotto durante la trasmissione: il messaggio potrebbe "
                        "essere partito. Verifica e scegli se reinviarlo o segnarlo come inviato."
                    ),
                )
            )
        )
        if changed:
            webhooks.emit_delivery_outcomes([delivery_id])
        report["uncertain"] += changed
    db.session.commit()
    for (batch_id,) in db.session.execute(db.select(Batch.id).where(Batch.status == "sending")).all():
        live = list(redis.scan_iter(f"recapito:sender:{batch_id}:*", count=100))
        if live:
            continue
        due = db.session.scalar(
            db.select(db.func.count(Delivery.id)).where(
                Delivery.batch_id == batch_id, Delivery.status == "queued"
            )
        )
        if due:
            report["redispatched"] += dispatch(batch_id)
        else:
            _finish_if_complete(batch_id)
    return report
