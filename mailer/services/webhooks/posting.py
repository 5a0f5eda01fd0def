"""Posting an outbox message to its endpoint, signed the Standard Webhooks way, with retries and back-off.

2xx = delivered; 408, 429, 5xx, timeouts and connection errors are retried after 1 min, 5 min, 30 min,
2 h, 6 h (WEBHOOK_BACKOFF_SECONDS overrides); any other answer is a final failure. A message is leased
while it is being posted, so two workers never post it at once; a worker that dies leaves the lease to
expire and the outbox job enqueues the message again (at least once: receivers drop duplicate ids).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import requests
from flask import current_app
from sqlalchemy import or_, select, update

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

from ...extensions import db
from ...models import WebhookAttempt, WebhookEndpoint, WebhookMessage, utcnow
from ...queue import WEBHOOK_JOB, enqueue, enqueue_in
from ..crypto import decrypt_secret
from .events import enqueue_after_commit

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600)
TIMEOUT_SECONDS = 5.0
LEASE_SECONDS = 60
EXCERPT_CHARS = 500
OUTBOX_BATCH = 500


def backoff() -> tuple[int, ...]:
    """Seconds before each retry (the number of retries is its length)."""
    configured = current_app.config.get("WEBHOOK_BACKOFF_SECONDS")
    if configured:
        return tuple(int(x) for x in str(configured).split(","))
    return BACKOFF_SECONDS


def _timeout() -> float:
    """Seconds an endpoint has to answer."""
    return float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", TIMEOUT_SECONDS))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's bytes (the part after
    «whsec_», base64-decoded, as Standard Webhooks does)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers of one POST (the timestamp is the attempt's: a receiver rejects stale ones)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": "Recapito-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature(secret, msg_id, ts, body),
    }


def classify(status_code: int | None) -> str:
    """'delivered', 'retry' or 'failed' for an HTTP answer (None = no answer: retry)."""
    if status_code is None or status_code in (408, 429) or status_code >= 500:
        return "retry"
    if 200 <= status_code < 300:
        return "delivered"
    return "failed"


def _claim(message_id: int) -> bool:
    """Lease a pending, due message for this worker (committed); False when it is not ours to post."""
    now = utcnow()
    result = db.session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == "pending",
            or_(WebhookMessage.next_attempt_at.is_(None), WebhookMessage.next_attempt_at <= now),
            or_(WebhookMessage.lease_until.is_(None), WebhookMessage.lease_until < now),
        )
        .values(lease_until=now + timedelta(seconds=LEASE_SECONDS + _timeout()))
        .execution_options(synchronize_session=False)
    )
    claimed = cast("CursorResult[Any]", result).rowcount  # an UPDATE answers with a cursor result
    db.session.commit()
    return bool(claimed)


def _post(endpoint: WebhookEndpoint, message: WebhookMessage) -> tuple[int | None, str, str, int]:
    """POST the message: (status code or None, answer excerpt, error text, duration in ms)."""
    body = message.body.encode("utf-8")
    headers = signed_headers(decrypt_secret(endpoint.secret_encrypted), message.event_id, body)
    started = time.monotonic()
    code, excerpt, error = None, "", ""
    timeout = _timeout()
    try:
        with requests.post(
            endpoint.url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as answer:
            code = answer.status_code
            raw = answer.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
            excerpt = raw.decode("utf-8", "replace")[:EXCERPT_CHARS]
    except requests.Timeout:
        error = f"Nessuna risposta entro {timeout:g} secondi"
    except requests.RequestException as exc:
        error = f"Connessione non riuscita: {type(exc).__name__}"
    return code, excerpt, error, int((time.monotonic() - started) * 1000)


def deliver_message(message_id: int) -> str:
    """Post one message if it is pending and due; record the attempt; schedule the retry. Returns the
    outcome ('delivered', 'retry', 'failed') or why nothing was done ('not-due', 'inactive')."""
    if not _claim(message_id):
        return "not-due"
    message = db.session.get(WebhookMessage, message_id)
    assert message is not None  # just claimed
    endpoint = message.endpoint
    if not endpoint.active:
        message.lease_until = None  # kept pending: it leaves if the endpoint is switched on again
        db.session.commit()
        return "inactive"
    try:
        code, excerpt, error, duration = _post(endpoint, message)
    except ValueError as exc:  # the secret cannot be decrypted (CREDENTIALS_KEY changed)
        code, excerpt, error, duration = None, "", str(exc), 0
    outcome = classify(code)
    message.attempts += 1
    schedule = backoff()
    if outcome == "retry" and message.attempts > len(schedule):
        outcome = "failed"
    now = utcnow()
    delay = 0
    if outcome == "retry":
        delay = schedule[message.attempts - 1]
        message.next_attempt_at = now + timedelta(seconds=delay)
    else:
        message.status = outcome
        message.next_attempt_at = None
        message.delivered_at = now if outcome == "delivered" else None
    message.lease_until = None
    message.last_status_code = code
    message.last_error = error or (f"HTTP {code}" if outcome != "delivered" else "")
    db.session.add(
        WebhookAttempt(
            message_id=message.id,
            started_at=now,
            status_code=code,
            response_excerpt=excerpt,
            error=error,
            duration_ms=duration,
            outcome=outcome,
        )
    )
    db.session.commit()
    if outcome == "retry":
        _enqueue_retry(message.id, delay)
    return outcome


def _enqueue_retry(message_id: int, delay: int) -> None:
    """Hand the retry to RQ (best effort: the outbox job finds it when due anyway)."""
    try:
        if delay <= 0:
            enqueue(WEBHOOK_JOB, message_id, job_timeout=120)
        else:
            enqueue_in(timedelta(seconds=delay), WEBHOOK_JOB, message_id, job_timeout=120)
    except Exception as exc:  # noqa: BLE001 - Redis away: the outbox job enqueues it when due
        log.warning("webhook message %s: retry not enqueued (%s)", message_id, exc)


def enqueue_due() -> int:
    """The outbox job: enqueue every pending, due, unleased message of an active endpoint (after a crash,
    a lost enqueue or a Redis outage nothing is lost); returns how many."""
    now = utcnow()
    ids = db.session.scalars(
        select(WebhookMessage.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookEndpoint.active.is_(True),
            WebhookMessage.status == "pending",
            or_(WebhookMessage.next_attempt_at.is_(None), WebhookMessage.next_attempt_at <= now),
            or_(WebhookMessage.lease_until.is_(None), WebhookMessage.lease_until < now),
        )
        .order_by(WebhookMessage.id)
        .limit(OUTBOX_BATCH)
    ).all()
    for message_id in ids:
        enqueue(WEBHOOK_JOB, message_id, job_timeout=120)
    return len(ids)


def resend(message: WebhookMessage) -> None:
    """An administrator sends a message again (same event id and body) now; the caller commits, the
    enqueue follows the commit through the outbox."""
    message.status = "pending"
    message.next_attempt_at = utcnow()
    message.lease_until = None
    message.delivered_at = None
    message.attempts = 0  # a full round of retries again; the earlier attempts stay listed
    enqueue_after_commit([message.id])
