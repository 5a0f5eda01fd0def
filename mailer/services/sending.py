"""Sending a batch: senders per account, at-most-once claims, retries, rate limits, recovery.

Delivery states while sending:
  queued    approved, waiting for a sender (or for its next attempt, `next_attempt_at`)
  sending   claimed by a sender *before* its SMTP transaction; marked right after it
  sent / failed / uncertain / cancelled   final (uncertain waits for a person)

A delivery is claimed with a conditional UPDATE (only one sender can win it) and committed before
any byte goes to the SMTP server. If the sender dies, the delivery stays "sending"; the watchdog
turns it into "uncertain" once the sender's heartbeat has expired. Nothing is ever resent on its own
after it may have left.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Batch, Blob, Delivery, Document, MailAccount, delivery_documents, utcnow
from ..queue import get_queue, get_redis
from ..transport.message import Attachment, MessageSpec, address_domain, build_message
from ..transport.smtp import SMTP_TIMEOUT, SendOutcome, SmtpSession, SmtpSettings
from . import oauth_tokens
from .audit import audit
from .crypto import decrypt_secret
from .document_versions import files_sent_with
from .tracking import verp_address

FINAL_STATES = ("sent", "failed", "uncertain", "cancelled", "excluded", "bounced")
CHUNK = 50
_ACQUIRE = """
local key, token, now, ttl, limit = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, token) then
  redis.call('ZADD', key, now + ttl, token)
  return 1
end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + ttl, token)
  redis.call('EXPIRE', key, ttl * 2)
  return 1
end
return 0
"""


class SendingError(Exception):
    """A sending command that cannot be carried out (message in Italian)."""


def _heartbeat_seconds() -> int:
    """How long a sender's heartbeat lives without being refreshed."""
    return int(current_app.config.get("SENDER_HEARTBEAT_SECONDS", 60))


def _db_wait_seconds() -> float:
    """How long a sender waits for an unavailable database before it gives up (its claims stay safe)."""
    return float(current_app.config.get("SENDER_DB_WAIT_SECONDS", 120))


def _redis_wait_seconds() -> float:
    """How long a sender waits for Redis (rate limits, heartbeat) to come back before it gives up."""
    return float(current_app.config.get("SENDER_REDIS_WAIT_SECONDS", 120))


def database_unavailable(exc: Exception) -> bool:
    """True for errors that say the database cannot be reached or is locked, not that a statement is wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def backoff_schedule() -> list[int]:
    """Seconds to wait before attempt 2, 3, … (SEND_RETRY_BACKOFF, e.g. "60,300,900")."""
    raw = str(current_app.config.get("SEND_RETRY_BACKOFF", "60,300,900"))
    return [int(float(part)) for part in raw.split(",") if part.strip()] or [60]


def max_attempts() -> int:
    """Attempts per delivery, the first included."""
    return int(current_app.config.get("SEND_MAX_ATTEMPTS", len(backoff_schedule()) + 1))


# ---------------------------------------------------------------- batch commands


def start_sending(batch: Batch, user=None) -> None:
    """Queue every pending delivery of an approved batch and start the senders."""
    if batch.status not in ("approved", "paused"):
        raise SendingError("Si può inviare solo un invio approvato.")
    now = utcnow()
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status == "pending")
        .values(status="queued", next_attempt_at=None)
    )
    batch.status = "sending"
    batch.sending_started_at = batch.sending_started_at or now
    audit("batch.send", batch, user=user)
    db.session.commit()
    dispatch(batch.id)


def pause_sending(batch: Batch, user=None) -> None:
    """Stop senders after their current message; queued deliveries wait."""
    if batch.status != "sending":
        raise SendingError("Si può mettere in pausa solo un invio in corso.")
    batch.status = "paused"
    audit("batch.pause", batch, user=user)
    db.session.commit()


def resume_sending(batch: Batch, user=None) -> None:
    """Resume a paused batch."""
    if batch.status != "paused":
        raise SendingError("L'invio non è in pausa.")
    batch.status = "sending"
    batch.error = ""
    audit("batch.resume", batch, user=user)
    db.session.commit()
    dispatch(batch.id)


def cancel_sending(batch: Batch, user=None) -> None:
    """Cancel what has not left yet; what is being sent right now finishes."""
    if batch.status not in ("sending", "paused", "approved", "ready"):
        raise SendingError("Questo invio non si può annullare.")
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status.in_(["queued", "pending"]))
        .values(status="cancelled")
    )
    batch.status = "cancelled"
    batch.finished_at = utcnow()
    # Who cancelled, for the batch page («Annullato il … da …: 12 invii non partiti»).
    name = (user.full_name or user.username) if user is not None else ""
    batch.params = {**(batch.params or {}), "cancelled_by": name}
    audit("batch.cancel", batch, user=user)
    db.session.commit()


def retry_failed(batch: Batch, user=None, delivery_ids: list[int] | None = None) -> int:
    """Put failed deliveries back in the queue for a new round of attempts; returns how many."""
    if batch.status not in ("done", "sending", "paused"):
        raise SendingError("Si possono ritentare solo gli invii in corso o conclusi.")
    query = update(Delivery).where(Delivery.batch_id == batch.id, Delivery.status == "failed")
    if delivery_ids:
        query = query.where(Delivery.id.in_(delivery_ids))
    count = db.session.execute(
        query.values(status="queued", attempts=0, next_attempt_at=None, smtp_code=None, smtp_reason="")
    ).rowcount
    if count:
        batch.status = "sending"
        batch.finished_at = None
        audit("batch.retry", batch, user=user, count=count)
    db.session.commit()
    if count:
        dispatch(batch.id)
    return count


def resolve_uncertain(delivery: Delivery, action: str, user) -> None:
    """A person decides an uncertain delivery: resend it, or record it as sent."""
    if action not in ("sent", "resend"):
        raise SendingError("Azione sconosciuta.")
    # Compare and set: two people deciding at once (one "sent", one "resend") must not send it again.
    if not db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == "uncertain")
        .values(status="sent" if action == "sent" else "queued")
        .execution_options(synchronize_session=False)
    ).rowcount:
        db.session.rollback()
        raise SendingError("Questo recapito non ha un esito incerto.")
    delivery.resolved_by_id = user.id
    delivery.resolved_at = utcnow()
    if action == "sent":
        delivery.status = "sent"
        delivery.sent_at = delivery.sent_at or delivery.claimed_at or utcnow()
        _mark_documents_sent([delivery.id])
        audit("delivery.mark_sent", delivery, user=user)
        db.session.commit()
        _finish_if_complete(delivery.batch_id)
    elif action == "resend":
        delivery.status = "queued"
        delivery.next_attempt_at = None
        batch = db.session.get(Batch, delivery.batch_id)
        if batch.status == "done":
            batch.status = "sending"
            batch.finished_at = None
        audit("delivery.resend", delivery, user=user)
        db.session.commit()
        dispatch(delivery.batch_id)
    else:
        raise SendingError("Azione sconosciuta.")


# ---------------------------------------------------------------- senders


def dispatch(batch_id: int) -> int:
    """Enqueue senders for every account that has queued deliveries; returns how many."""
    from ..jobs.sending import run_sender_job

    rows = db.session.execute(
        db.select(Delivery.account_id, db.func.count(Delivery.id))
        .where(Delivery.batch_id == batch_id, Delivery.status == "queued")
        .group_by(Delivery.account_id)
    ).all()
    queue = get_queue()
    started = 0
    for account_id, count in rows:
        if account_id is None:
            continue
        account = db.session.get(MailAccount, account_id)
        senders = max(1, min(account.max_connections or 1, (count + CHUNK - 1) // CHUNK))
        for index in range(senders):
            queue.enqueue(
                run_sender_job,
                batch_id,
                account_id,
                index,
                senders,
                job_timeout=6 * 3600,
                description=f"invio {batch_id} account {account_id}",
            )
            started += 1
    return started


def smtp_settings(account: MailAccount) -> SmtpSettings:
    """SMTP settings of an account, with the password decrypted."""
    return SmtpSettings(
        host=account.host,
        port=account.port,
        tls_mode=account.tls_mode,
        username=account.username,
        password=decrypt_secret(account.password_encrypted),
        timeout=float(current_app.config.get("SMTP_TIMEOUT", SMTP_TIMEOUT)),
        ca_pem=account.tls_ca_pem or "",
        token_provider=oauth_tokens.token_provider(account) if oauth_tokens.is_oauth(account) else None,
    )


# Reserve up to ARGV[1] messages of an account's per-minute (KEYS[1]) and per-day (KEYS[2]) budget;
# ARGV[2]/ARGV[3] are the limits (0 = none). Returns {granted, 1 = minute full | 2 = day full}.
_RESERVE = """
local want = tonumber(ARGV[1])
local minute_limit, day_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
local grant, full = want, 0
if minute_limit > 0 and m + grant > minute_limit then grant = math.max(0, minute_limit - m); full = 1 end
if day_limit > 0 and d + grant > day_limit then grant = math.max(0, day_limit - d); full = 2 end
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant); redis.call('EXPIRE', KEYS[1], 120)
  redis.call('INCRBY', KEYS[2], grant); redis.call('EXPIRE', KEYS[2], 172800)
end
return {grant, full}
"""


def _reserve(limits, want: int) -> tuple[int, int, float]:
    """Take up to `want` messages of the account's budget: (granted, minute they count in, seconds to wait if 0)."""
    now = time.time()
    minute = int(now // 60)
    day = time.strftime("%Y%m%d", time.gmtime(now))
    granted, full = get_redis().eval(
        _RESERVE,
        2,
        f"recapito:rate:{limits.id}:m:{minute}",
        f"recapito:rate:{limits.id}:d:{day}",
        max(1, want),
        limits.rate_per_minute or 0,
        limits.rate_per_day or 0,
    )
    if int(granted) > 0:
        return int(granted), minute, 0.0
    if int(full) == 2:
        return 0, minute, 86400 - (now % 86400) + 1
    return 0, minute, 60 - (now % 60) + 0.05


def _rate_block(limits) -> int:
    """Messages reserved per Redis call: a slice of the minute's budget shared by the account's senders.

    Reserved messages count as sent even if the sender stops before using them, so an account can only
    send fewer than its limits, never more; what is left when the minute changes is dropped.
    """
    if not limits.rate_per_minute:
        return CHUNK
    return max(1, min(CHUNK, limits.rate_per_minute // (4 * max(1, limits.max_connections))))


_DELIVERIES = Delivery.__table__
# Claim: only a queued delivery whose attempt is due can be taken, by one sender. Message-ID and Date
# are fixed at the first attempt and kept for the retries; the claim returns the stored ones (and the
# attempt number), so the message carries them even when the sender read the row before another
# sender's attempt. Built once; executed with parameters (compiled once).
_CLAIMED = (_DELIVERIES.c.message_id, _DELIVERIES.c.message_date, _DELIVERIES.c.attempts)
_CLAIM = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("did"),
        _DELIVERIES.c.status == "queued",
        or_(_DELIVERIES.c.next_attempt_at.is_(None), _DELIVERIES.c.next_attempt_at <= bindparam("now")),
    )
    .values(
        status="sending",
        claimed_at=bindparam("now"),
        claimed_by=bindparam("token"),
        attempts=_DELIVERIES.c.attempts + 1,
        message_id=func.coalesce(func.nullif(_DELIVERIES.c.message_id, ""), bindparam("new_id")),
        message_date=func.coalesce(func.nullif(_DELIVERIES.c.message_date, ""), bindparam("new_date")),
    )
    .returning(*_CLAIMED)
)
# Mark: only the claimer writes the outcome (also over "uncertain", when the watchdog was early).
_MARK = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("did"),
        _DELIVERIES.c.claimed_by == bindparam("token"),
        _DELIVERIES.c.status.in_(["sending", "uncertain"]),
    )
    .values(
        status=bindparam("status"),
        smtp_code=bindparam("code"),
        smtp_reason=bindparam("reason"),
        sent_at=func.coalesce(bindparam("sent_at"), _DELIVERIES.c.sent_at),
        message_sha256=func.coalesce(func.nullif(bindparam("digest"), ""), _DELIVERIES.c.message_sha256),
        next_attempt_at=bindparam("next_at"),
    )
)


@dataclass
class _Outgoing:
    """A delivery read ahead of its claim: everything needed to send it, as plain data."""

    id: int
    spec: MessageSpec  # its Message-ID and Date are set from the claim (the row may have changed since)
    recipients: list[str]


@dataclass
class _AccountLimits:
    """An account's limits as plain values (rows expire at every commit; these do not)."""

    id: int
    from_address: str
    max_connections: int
    rate_per_minute: int
    rate_per_day: int
    verp: bool = False  # per-delivery envelope sender (never on PEC, where it must equal From)
    domain: str = "localhost"  # of from_address, for the Message-IDs (parsed once, not per message)


class Sender:
    """One sender: one SMTP connection of one account, working through one batch.

    Deliveries are read ahead in chunks (with their documents and PDFs, in a few queries);
    each one is then claimed by a conditional UPDATE that commits before its SMTP transaction,
    and its outcome is written in the same transaction as the next claim (one commit a message).
    """

    BEAT_EVERY = 2.0  # seconds between heartbeats

    def __init__(self, batch_id: int, account_id: int, index: int = 0, of: int = 1):
        self.batch_id = batch_id
        self.account_id = account_id
        self.index = index
        self.of = of
        self.token = f"{batch_id}:{account_id}:{uuid.uuid4().hex[:12]}"
        self.redis = get_redis()
        self.slots_key = f"recapito:conns:{account_id}"
        self.beat_key = f"recapito:sender:{batch_id}:{account_id}:{self.token}"
        self.pending_marks: list[tuple[int, SendOutcome, str, int]] = []
        self.blob_cache: dict[str, tuple[str, bytes]] = {}
        self.session: SmtpSession | None = None
        self.limits: _AccountLimits | None = None
        self.last_beat = 0.0
        self.sent_since_flush: list[int] = []
        self.rate_tokens = 0  # messages of the rate budget reserved and not used yet
        self.rate_minute = -1  # the minute they were reserved in

    # -- coordination
    def beat(self) -> bool:
        """Refresh the heartbeat and the connection slot; False when no slot is free."""
        ttl = _heartbeat_seconds()
        self.redis.set(self.beat_key, "1", ex=ttl)
        self.last_beat = time.monotonic()
        return bool(
            self.redis.eval(
                _ACQUIRE, 1, self.slots_key, self.token, time.time(), ttl, max(1, self.limits.max_connections)
            )
        )

    def release(self) -> None:
        """Give back the connection slot and stop the heartbeat (best effort: both expire anyway)."""
        try:
            self.redis.zrem(self.slots_key, self.token)
            self.redis.delete(self.beat_key)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            current_app.logger.warning("sender %s: Redis unavailable at release (%s)", self.token, exc)

    def _redis_retrying(self, work):
        """Run work() (rate limit, heartbeat, scheduling); while Redis is unreachable, wait and run it again.

        Without Redis the account's rate limits cannot be checked, so nothing is sent meanwhile; after a
        restart the counters, slots and heartbeats start afresh (Redis keeps nothing on disk).
        """
        deadline = time.monotonic() + _redis_wait_seconds()
        delay = 0.2
        while True:
            try:
                return work()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                current_app.logger.warning(
                    "sender %s: Redis unavailable (%s), retrying in %.1f s",
                    self.token,
                    type(exc).__name__,
                    delay,
                )
                # No heartbeat while Redis is away: leave no claim open that the watchdog could doubt.
                self._flush_marks()
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    def _retrying(self, work, patient: bool = True):
        """Run work(); while the database is unreachable or locked, roll back and run it again.

        A brief outage (a restart, a lock held by another program) must not turn messages that were
        sent into "uncertain" ones: the outcomes are kept in memory and written once the database
        answers again, for up to SENDER_DB_WAIT_SECONDS; meanwhile the heartbeat is kept alive.
        """
        deadline = time.monotonic() + (_db_wait_seconds() if patient else 0.0)
        delay = 0.2
        while True:
            try:
                return work()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                try:
                    db.session.rollback()
                except Exception:  # the connection is gone: the pool opens a new one next time
                    db.session.close()
                if time.monotonic() + delay > deadline:
                    raise
                current_app.logger.warning(
                    "sender %s: database unavailable (%s), retrying in %.1f s",
                    self.token,
                    type(exc).__name__,
                    delay,
                )
                if self.limits is not None:
                    try:
                        self.beat()
                    except Exception:  # Redis trouble is handled by the main loop
                        pass
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    # -- main loop
    def run(self) -> str:
        """Send until nothing is due, the batch is paused/cancelled, or a limit is reached."""
        account = self._retrying(lambda: db.session.get(MailAccount, self.account_id))
        if account is None:
            return "no-account"
        self.limits = _AccountLimits(
            account.id,
            account.from_address,
            account.max_connections or 1,
            account.rate_per_minute or 0,
            account.rate_per_day or 0,
            verp=bool(account.verp) and not account.is_pec,
            domain=address_domain(account.from_address),
        )
        if not self._redis_retrying(self.beat):
            self._reschedule(5)
            return "no-slot"
        try:
            settings = smtp_settings(account)
        except ValueError as exc:
            # The stored password cannot be decrypted (CREDENTIALS_KEY changed): nothing can leave
            # through this account. Pause the batch and say why; a person fixes the key or the
            # password and resumes. Deliveries stay queued: none has been attempted.
            self.release()
            db.session.execute(
                update(Batch)
                .where(Batch.id == self.batch_id, Batch.status == "sending")
                .values(status="paused", error=f"Invio sospeso: account «{account.name}»: {exc}")
            )
            db.session.commit()
            current_app.logger.error(
                "batch %s paused: account %s password cannot be decrypted", self.batch_id, self.account_id
            )
            return "bad-credentials"
        self.session = SmtpSession(settings)
        reason = "done"
        database_gone = False
        try:
            while True:
                status = self._retrying(
                    lambda: db.session.scalar(db.select(Batch.status).where(Batch.id == self.batch_id))
                )
                if status != "sending":
                    reason = f"batch-{status}"
                    break
                self._flush_marks()  # retries due now become visible to _read_ahead
                outgoing = self._retrying(lambda: self._read_ahead(account))
                if not outgoing:
                    break
                for item in outgoing:
                    wait = self._rate_wait()
                    if wait > 0:
                        self._flush_marks()
                        self._reschedule(wait)
                        return "rate-limited"
                    self._send_one(item)
                    due = time.monotonic() - self.last_beat > self.BEAT_EVERY
                    if due and not self._redis_retrying(self.beat):
                        self._flush_marks()
                        self._reschedule(5)
                        return "no-slot"
                account = self._retrying(lambda: db.session.get(MailAccount, self.account_id))
        except Exception as exc:
            database_gone = database_unavailable(exc)
            raise
        finally:
            try:
                # After giving up on the database, one last try only: the claims left "sending"
                # become "uncertain" through the watchdog, never sent again.
                self._flush_marks(patient=not database_gone)
            finally:
                if self.session:
                    self.session.close()
                self.release()
        self._retrying(self._after_loop)
        return reason

    def _rate_wait(self) -> float:
        """Seconds to wait before one more message may leave (0 = go), taking it from the budget."""
        if self.rate_tokens > 0 and self.rate_minute == int(time.time() // 60):
            self.rate_tokens -= 1
            return 0.0
        granted, minute, wait = self._redis_retrying(lambda: _reserve(self.limits, _rate_block(self.limits)))
        self.rate_tokens, self.rate_minute = max(0, granted - 1), minute
        return wait

    def _next_ids(self) -> list[int]:
        """Ids of due queued deliveries, this sender's share first."""
        now = utcnow()
        base = (
            db.select(Delivery.id)
            .where(
                Delivery.batch_id == self.batch_id,
                Delivery.account_id == self.account_id,
                Delivery.status == "queued",
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.id)
            .limit(CHUNK)
        )
        if self.of > 1:
            mine = db.session.scalars(base.where(Delivery.id % self.of == self.index)).all()
            if mine:
                return list(mine)
        return list(db.session.scalars(base).all())

    def _read_ahead(self, account: MailAccount) -> list[_Outgoing]:
        """The next due deliveries with their documents and files, as plain data."""
        ids = self._next_ids()
        if not ids:
            return []
        deliveries = db.session.scalars(
            db.select(Delivery)
            .where(Delivery.id.in_(ids))
            .order_by(Delivery.id)
            .options(selectinload(Delivery.documents).selectinload(Document.attachments))
        ).all()
        shas = {d.pdf_sha256 for x in deliveries for d in x.documents if d.pdf_sha256}
        shas |= {a.blob_sha256 for x in deliveries for d in x.documents for a in d.attachments}
        shas -= set(self.blob_cache)
        if shas:
            if len(self.blob_cache) > 512:
                self.blob_cache.clear()
            for sha, content_type, data in db.session.execute(
                db.select(Blob.sha256, Blob.content_type, Blob.data).where(Blob.sha256.in_(shas))
            ):
                self.blob_cache[sha] = (content_type, data)
        outgoing = []
        for d in deliveries:
            try:
                spec = message_spec(d, account, self.blob_cache)
            except Exception as exc:  # a broken row must not stop the others
                current_app.logger.exception("delivery %s: message inputs unreadable", d.id)
                spec = exc
            recipients = [d.recipient_email] + [a.strip() for a in (d.cc or "").split(",") if a.strip()]
            outgoing.append(_Outgoing(d.id, spec, recipients))
        return outgoing

    def _send_one(self, item: _Outgoing) -> bool:
        """Claim, send and (lazily) mark one delivery; False when another sender won it."""
        now = utcnow()
        new_id = make_msgid(idstring=f"rcp{item.id}", domain=self.limits.domain)
        new_date = format_datetime(datetime.now().astimezone())
        params = {"did": item.id, "now": now, "token": self.token, "new_id": new_id, "new_date": new_date}
        claimed = self._retrying(lambda: self._claim(params))
        self._marks_committed()
        if claimed is None:
            return False
        # What the row holds now, not what was read ahead: another sender may have made an attempt since.
        message_id, message_date, attempts = claimed
        if isinstance(item.spec, Exception):
            outcome = SendOutcome("permanent", None, f"Impossibile comporre il messaggio: {item.spec}")
            self.pending_marks.append((item.id, outcome, "", attempts))
            return True
        item.spec.message_id = message_id
        item.spec.date = message_date
        try:
            data = build_message(item.spec)
        except Exception as exc:  # nothing left: record why instead of leaving it "sending"
            current_app.logger.exception("delivery %s: message build failed", item.id)
            self.pending_marks.append(
                (
                    item.id,
                    SendOutcome("permanent", None, f"Impossibile comporre il messaggio: {exc}"),
                    "",
                    attempts,
                )
            )
            return True
        outcome = self.session.send(self._envelope_sender(item.id), item.recipients, data)
        self.pending_marks.append((item.id, outcome, hashlib.sha256(data).hexdigest(), attempts))
        return True

    def _envelope_sender(self, delivery_id: int) -> str:
        """MAIL FROM: the account's address, or its per-delivery return path when the account uses one."""
        if self.limits.verp:
            return verp_address(self.limits.from_address, delivery_id)
        return self.limits.from_address

    def _claim(self, params: dict) -> tuple[str, str, int] | None:
        """Claim one delivery and write the pending outcomes; durable before any byte goes out.

        Returns the delivery's stored (Message-ID, Date, attempt number), or None when it was not ours to take.
        """
        # On the session's connection (same transaction): Core statements skip the ORM's execution path.
        claimed = db.session.connection().execute(_CLAIM, params).first()
        if claimed is None:
            # A commit whose answer was lost (connection cut) may have gone through: the row is ours then.
            claimed = db.session.execute(
                db.select(*_CLAIMED).where(
                    _DELIVERIES.c.id == params["did"],
                    _DELIVERIES.c.status == "sending",
                    _DELIVERIES.c.claimed_by == self.token,
                )
            ).first()
        self._apply_marks()
        db.session.commit()
        return (claimed[0], claimed[1], int(claimed[2])) if claimed is not None else None

    def _marks_committed(self) -> None:
        """Forget the outcomes just committed (kept until then, so a failed commit loses none)."""
        self.sent_since_flush.extend(
            d for d, outcome, _digest, _n in self.pending_marks if outcome.kind == "sent"
        )
        self.pending_marks.clear()

    def _apply_marks(self) -> None:
        """Write the outcome of the messages sent since the last commit (same transaction, not committed)."""
        if not self.pending_marks:
            return
        schedule = backoff_schedule()
        limit = max_attempts()
        now = utcnow()
        rows = []
        for delivery_id, outcome, digest, attempts in self.pending_marks:
            row = {
                "did": delivery_id,
                "token": self.token,
                "code": outcome.code,
                "reason": outcome.text[:2000],
                "status": outcome.kind,
                "sent_at": None,
                "digest": "",
                "next_at": None,
            }
            if outcome.kind == "sent":
                row.update(sent_at=now, digest=digest)
            elif outcome.kind == "permanent":
                row.update(status="failed")
            elif outcome.kind == "uncertain":
                row.update(digest=digest)
            elif attempts >= limit:
                row.update(
                    status="failed",
                    reason=(f"Errore temporaneo ripetuto ({attempts} tentativi): " + outcome.text)[:2000],
                )
            else:
                delay = schedule[min(attempts - 1, len(schedule) - 1)]
                row.update(status="queued", next_at=now + timedelta(seconds=delay))
            rows.append(row)
        db.session.connection().execute(_MARK, rows)

    def _flush_marks(self, patient: bool = True) -> None:
        """Commit outstanding outcomes, and record on the documents that they left."""
        if not (self.pending_marks or self.sent_since_flush):
            return

        def write():
            self._apply_marks()
            sent = self.sent_since_flush + [
                d for d, outcome, _g, _n in self.pending_marks if outcome.kind == "sent"
            ]
            if sent:
                _mark_documents_sent(sent)
            db.session.commit()

        self._retrying(write, patient)
        self._marks_committed()
        self.sent_since_flush = []

    def _reschedule(self, seconds: float) -> None:
        """Run this sender again later."""
        from ..jobs.sending import run_sender_job

        self._redis_retrying(
            lambda: get_queue().enqueue_in(
                timedelta(seconds=max(1.0, seconds)),
                run_sender_job,
                self.batch_id,
                self.account_id,
                self.index,
                self.of,
                job_timeout=6 * 3600,
            )
        )

    def _after_loop(self) -> None:
        """Schedule the next retry round, or close the batch when nothing is left."""
        status = db.session.scalar(db.select(Batch.status).where(Batch.id == self.batch_id))
        if status != "sending":
            return
        next_due = db.session.scalar(
            db.select(db.func.min(Delivery.next_attempt_at)).where(
                Delivery.batch_id == self.batch_id,
                Delivery.account_id == self.account_id,
                Delivery.status == "queued",
            )
        )
        if next_due is not None:
            self._reschedule((next_due - utcnow()).total_seconds())
            return
        _finish_if_complete(self.batch_id)


def message_spec(delivery: Delivery, account: MailAccount, cache: dict | None = None) -> MessageSpec:
    """The inputs of a delivery's message: headers, bodies, attachments (PDFs from the database)."""
    cache = {} if cache is None else cache
    attachments = document_attachments(delivery.documents, delivery, cache)
    if not delivery.documents and delivery.batch_id is not None:
        # Campaign batches attach the generic documents of their campaign (none for document batches).
        from .campaigns import attachments_for_batch

        for filename, content_type, data in attachments_for_batch(delivery.batch_id, cache):
            attachments.append(Attachment(filename, content_type, data))
    return MessageSpec(
        from_address=account.from_address,
        from_name=account.from_name,
        to=[(delivery.recipient_name, delivery.recipient_email)],
        cc=[a.strip() for a in (delivery.cc or "").split(",") if a.strip()],
        reply_to=delivery.reply_to or "",
        subject=delivery.subject,
        html=delivery.body_html,
        text=delivery.body_text,
        message_id=delivery.message_id,
        date=delivery.message_date,
        headers=dict(delivery.extra_headers or {}),
        attachments=attachments,
    )


def document_attachments(
    documents, delivery: Delivery | None = None, cache: dict | None = None
) -> list[Attachment]:
    """The files a message carries for its documents: each PDF (when its type attaches it) and extra files.

    With a delivery, as that delivery carried them (a delivery already sent is rebuilt with the files it
    carried, even if an import replaced them since); without one (a template preview), the current files.
    """
    cache = {} if cache is None else cache
    attachments = []
    for document in documents:
        if delivery is not None:
            pdf_sha, extras = files_sent_with(document, delivery)
        else:
            pdf_sha, extras = document.pdf_sha256, [(a.filename, a.blob_sha256) for a in document.attachments]
        if document.type.attach_pdf and pdf_sha:
            content_type, data = _blob(pdf_sha, cache)
            attachments.append(Attachment(pdf_filename(document), content_type or "application/pdf", data))
        for filename, sha in extras:
            content_type, data = _blob(sha, cache)
            attachments.append(Attachment(filename, content_type, data))
    return attachments


def reserve_one(account: MailAccount) -> float:
    """Take one message from the account's per-minute/per-day budget, as the senders do (0 = taken,
    else the seconds to wait): a message outside a batch (a test send) counts against the same limits."""
    limits = _AccountLimits(
        account.id,
        account.from_address,
        account.max_connections or 1,
        account.rate_per_minute or 0,
        account.rate_per_day or 0,
    )
    return _reserve(limits, 1)[2]


def pdf_filename(document: Document) -> str:
    """File name of a document's PDF in the e-mail."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(document.number))
    return f"{document.type_code}_{document.year}_{safe}.pdf"


def _blob(sha: str, cache: dict) -> tuple[str, bytes]:
    """Blob content, cached for the sender's life (PDFs repeat across recipients)."""
    hit = cache.get(sha)
    if hit is None:
        blob = db.session.get(Blob, sha)
        hit = (blob.content_type, blob.data) if blob else ("application/octet-stream", b"")
        if len(cache) > 256:
            cache.clear()
        cache[sha] = hit
    return hit


def _mark_documents_sent(delivery_ids: list[int]) -> None:
    """Record on each document that it left (the next preparation skips it)."""
    now = utcnow()
    doc_ids = db.select(delivery_documents.c.document_id).where(
        delivery_documents.c.delivery_id.in_(delivery_ids)
    )
    db.session.execute(
        update(Document).where(Document.id.in_(doc_ids), Document.sent_at.is_(None)).values(sent_at=now)
    )


def _finish_if_complete(batch_id: int) -> bool:
    """Close a sending batch when no delivery is queued or in sending; e-mail the summary."""
    open_count = db.session.scalar(
        db.select(db.func.count(Delivery.id)).where(
            Delivery.batch_id == batch_id, Delivery.status.in_(["queued", "sending"])
        )
    )
    if open_count:
        return False
    done = db.session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "sending")
        .values(
            status="done",
            finished_at=utcnow(),
            summary_status=db.case((Batch.summary_status == "sent", "sent"), else_="pending"),
        )
    ).rowcount
    db.session.commit()
    if done:
        from .batch_summary import enqueue_summary

        enqueue_summary(batch_id)
    return bool(done)


# ---------------------------------------------------------------- recovery


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
        report["uncertain"] += db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.claimed_by == token)
            .values(
                status="uncertain",
                smtp_reason=(
                    "Il processo di invio si è interrotto durante la trasmissione: il messaggio potrebbe essere "
                    "partito. Verifica e scegli se reinviarlo o segnarlo come inviato."
                ),
            )
        ).rowcount
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
