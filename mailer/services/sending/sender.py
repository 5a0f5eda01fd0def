"""One sender: one SMTP connection of one account working through one batch, with at-most-once claims.

Each delivery is claimed by a conditional UPDATE committed before its SMTP transaction; its outcome is
written with the next claim. Retries of temporary errors are rescheduled; a sender that dies leaves its
claims "sending" for the watchdog (watchdog.py) to turn "uncertain".
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid
from functools import partial

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import or_, update
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...models import Batch, Blob, Delivery, Document, MailAccount, utcnow
from ...queue import SENDER_JOB, enqueue_in, get_redis
from ...transport.message import MessageSpec, address_domain, build_message
from ...transport.smtp import SendOutcome, SmtpSession
from .. import webhooks
from ..tracking import verp_address
from .claims import CLAIM, CLAIM_AND_MARK, CLAIMED, MARK
from .connection import held_connection
from .limits import _ACQUIRE, _AccountLimits, _rate_block, _reserve
from .messages import message_spec
from .outcomes import _finish_if_complete, _mark_documents_sent
from .settings import (
    CHUNK,
    _db_wait_seconds,
    _heartbeat_seconds,
    _redis_wait_seconds,
    backoff_schedule,
    database_unavailable,
    max_attempts,
    smtp_settings,
)

_DELIVERIES = Delivery.__table__


@dataclass
class _Outgoing:
    """A delivery read ahead of its claim: everything needed to send it, as plain data."""

    id: int
    spec: (
        MessageSpec | Exception
    )  # an Exception when its inputs were unreadable; otherwise its Message-ID and Date are set from the claim (the row may have changed since)
    recipients: list[str]
    sdi_check: bool = False  # it carries invoice files: the SdI may have discarded one since approval


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
        assert self.limits is not None  # set by run() before the first beat
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
                except Exception:  # noqa: BLE001 - the connection is gone: the pool opens a new one next time
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
                    with contextlib.suppress(Exception):  # Redis trouble is handled by the main loop
                        self.beat()
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    # -- main loop
    def run(self) -> str:
        """Send until nothing is due, the batch is paused/cancelled, or a limit is reached."""
        with held_connection():
            return self._run()

    def _run(self) -> str:
        """run(), on the sender's own database connection."""
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
                outgoing = self._retrying(partial(self._read_ahead, account))
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
        limits = self.limits
        assert limits is not None  # set by run()
        granted, minute, wait = self._redis_retrying(lambda: _reserve(limits, _rate_block(limits)))
        self.rate_tokens, self.rate_minute = max(0, granted - 1), minute
        return wait

    def _next_ids(self) -> list[int]:
        """Ids of due queued deliveries: this sender's share first, then its slice of what is left."""
        now = utcnow()
        due = db.select(Delivery.id).where(
            Delivery.batch_id == self.batch_id,
            Delivery.account_id == self.account_id,
            Delivery.status == "queued",
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        if self.of == 1:
            return list(db.session.scalars(due.order_by(Delivery.id).limit(CHUNK)).all())
        mine = db.session.scalars(
            due.where(Delivery.id % self.of == self.index).order_by(Delivery.id).limit(CHUNK)
        ).all()
        if mine:
            return list(mine)
        # Own share done: help with the others'. Owners work from the start of their share, helpers
        # from the end of what is left, each on every `of`-th id of it: helpers that all took the same
        # first ids raced for every claim (a lost claim waits for the winner's commit), which halved
        # the rate of 4 workers once their own shares were done (benchmarks/scaleout.py).
        left = db.session.scalars(due.order_by(Delivery.id.desc()).limit(CHUNK * self.of)).all()
        return sorted((left[self.index :: self.of] or left)[:CHUNK])

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
            spec: MessageSpec | Exception
            try:
                spec = message_spec(d, account, self.blob_cache)
            except Exception as exc:  # a broken row must not stop the others
                current_app.logger.exception("delivery %s: message inputs unreadable", d.id)
                spec = exc
            recipients = [d.recipient_email] + [a.strip() for a in (d.cc or "").split(",") if a.strip()]
            outgoing.append(_Outgoing(d.id, spec, recipients, any(doc.sdi_file_name for doc in d.documents)))
        return outgoing

    def _send_one(self, item: _Outgoing) -> bool:
        """Claim, send and (lazily) mark one delivery; False when another sender won it."""
        assert self.limits is not None and self.session is not None  # set by run()
        now = utcnow()
        new_id = make_msgid(idstring=f"rcp{item.id}", domain=self.limits.domain)
        new_date = format_datetime(datetime.now().astimezone())
        params = {"did": item.id, "now": now, "token": self.token, "new_id": new_id, "new_date": new_date}
        if item.sdi_check and self._retrying(lambda: _block_if_discarded(item.id)):
            return False
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
        assert self.limits is not None  # set by run()
        if self.limits.verp:
            return verp_address(self.limits.from_address, delivery_id)
        return self.limits.from_address

    def _claim(self, params: dict) -> tuple[str, str, int] | None:
        """Claim one delivery and write the pending outcomes; durable before any byte goes out.

        Returns the delivery's stored (Message-ID, Date, attempt number), or None when it was not ours to take.
        """
        # On the session's connection (same transaction): Core statements skip the ORM's execution path.
        connection = db.session.connection()
        rows = self._mark_rows()
        if len(rows) == 1 and rows[0]["did"] != params["did"]:
            # The usual case: the outcome of the message just sent goes with this claim, in one statement.
            mark = {f"mark_{name}": value for name, value in rows[0].items() if name != "token"}
            returned = connection.execute(CLAIM_AND_MARK, {**params, **mark}).all()
            claimed = next((row[1:] for row in returned if row[0] == params["did"]), None)
            self._emit_outcomes()
        else:
            claimed = connection.execute(CLAIM, params).first()
            self._apply_marks(rows)
        if claimed is None:
            # A commit whose answer was lost (connection cut) may have gone through: the row is ours then.
            claimed = db.session.execute(
                db.select(*CLAIMED).where(
                    _DELIVERIES.c.id == params["did"],
                    _DELIVERIES.c.status == "sending",
                    _DELIVERIES.c.claimed_by == self.token,
                )
            ).first()
        db.session.commit()
        return (claimed[0], claimed[1], int(claimed[2])) if claimed is not None else None

    def _marks_committed(self) -> None:
        """Forget the outcomes just committed (kept until then, so a failed commit loses none)."""
        self.sent_since_flush.extend(
            d for d, outcome, _digest, _n in self.pending_marks if outcome.kind == "sent"
        )
        self.pending_marks.clear()

    def _mark_rows(self) -> list[dict]:
        """The outcomes of the messages sent since the last commit, as parameters of the MARK statement."""
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
        return rows

    def _apply_marks(self, rows: list[dict] | None = None) -> None:
        """Write the outcome of the messages sent since the last commit (same transaction, not committed)."""
        rows = self._mark_rows() if rows is None else rows
        if rows:
            db.session.connection().execute(MARK, rows)
            self._emit_outcomes()

    def _emit_outcomes(self) -> None:
        """The webhook events of the outcomes just written (same transaction)."""
        webhooks.emit_delivery_outcomes(d for d, _outcome, _digest, _n in self.pending_marks)

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
        self._redis_retrying(
            lambda: enqueue_in(
                timedelta(seconds=max(1.0, seconds)),
                SENDER_JOB,
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


def _block_if_discarded(delivery_id: int) -> bool:
    """Keep back a queued delivery whose invoice the SdI discarded (NS), with the reason; True when kept back.

    Checked just before the claim, so an NS imported after approval still stops the message. An RC or MC
    arriving later does not send it by itself: the office prepares the document again."""
    from ..sdi import SDI_DISCARDED, delivery_block_reason

    reason = delivery_block_reason(delivery_id)
    if reason is None:
        return False
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "queued")
        .values(
            status="excluded", exclusion_reason=SDI_DISCARDED, smtp_reason=f"Non inviato: {reason}"[:2000]
        )
    )
    db.session.commit()
    current_app.logger.info("delivery %s kept back: discarded by the SdI", delivery_id)
    return True
