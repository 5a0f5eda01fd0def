"""The e-mail summary of a finished batch, to who prepared and approved it.

It leaves like a delivery: through the company's ordinary sending account and the same transport
(`SmtpSession`), built by `build_message` (bodies base64-encoded, headers folded: no line near the
SMTP limit, however long a server's answer quoted in it), with a Message-ID and Date fixed per reader
at the first attempt. Temporary failures (4xx, no connection) are retried by RQ (`Retry`); the state
is kept on the batch (`summary_status`, `summary_error`, `summary_messages`) and shown on its page.
Each reader gets the recipients and counts their own clearance allows, as on the batch page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid

from flask import current_app, render_template
from rq import Retry, get_current_job

from ..extensions import db
from ..formatting import plural
from ..models import DELIVERY_STATUSES, Batch, Delivery, MailAccount, User, utcnow
from ..queue import SUMMARY_JOB, enqueue
from ..transport.message import Attachment, MessageSpec, address_domain, build_message
from ..transport.smtp import SmtpSession
from .batch_views import export_csv, visible_to
from .campaigns import public_base_url
from .reference import get_company

FAILED_STATES = ("failed", "uncertain", "bounced")


class SummaryRetry(Exception):
    """The summary could not leave yet (temporary failure): raised so that RQ retries the job."""


def batch_counts(batch_id: int, clearance: int | None = None) -> dict[str, int]:
    """Number of deliveries per state (only those within `clearance`, when given)."""
    query = db.select(Delivery.status, db.func.count(Delivery.id)).where(Delivery.batch_id == batch_id)
    if clearance is not None:
        query = query.where(visible_to(clearance))
    rows = db.session.execute(query.group_by(Delivery.status)).all()
    return dict(rows)


def retry_intervals() -> list[int]:
    """Seconds before each new attempt of the summary (SUMMARY_RETRY_INTERVALS, e.g. "60,300,900,3600")."""
    raw = str(current_app.config.get("SUMMARY_RETRY_INTERVALS", "60,300,900,3600"))
    return [int(float(part)) for part in raw.split(",") if part.strip()] or [60]


def summary_job_id(batch_id: int) -> str:
    """The RQ job id of a batch's summary (fixed, so the watchdog can find it)."""
    return f"recapito-summary-{batch_id}"


def enqueue_summary(batch_id: int) -> None:
    """Queue the summary job with its retries (the batch's summary_status is already committed)."""
    intervals = retry_intervals()
    enqueue(
        SUMMARY_JOB,
        batch_id,
        retry=Retry(max=len(intervals), interval=intervals),
        job_id=summary_job_id(batch_id),
        description=f"riepilogo invio {batch_id}",
    )


def note_summary_crash(batch_id: int, exc: BaseException) -> None:
    """An unexpected error in the summary job: say it on the batch (retrying while RQ has retries left)."""
    db.session.rollback()
    job = get_current_job()
    retries_left = (job.retries_left or 0) if job is not None else 0
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.summary_sent_at is not None:
        return
    reason = f"Errore interno durante l'invio del riepilogo: {type(exc).__name__}: {exc}"
    _finish(batch, "retrying" if retries_left > 0 else "failed", reason)


def resend_summary(batch: Batch, user=None) -> None:
    """A person sends a failed summary again (after fixing an address or the account): only to the readers not
    reached, with their Message-IDs; raises SendingError (Italian) when there is nothing to resend."""
    from .audit import audit
    from .sending import SendingError

    if batch.status != "done" or batch.summary_status != "failed":
        raise SendingError(
            "Il riepilogo non si può inviare di nuovo: lo si fa solo quando non è stato inviato."
        )
    batch.summary_messages = {
        k: {**v, "status": "pending" if v.get("status") != "sent" else "sent"}
        for k, v in (batch.summary_messages or {}).items()
    }
    batch.summary_status, batch.summary_error = "pending", ""
    audit("batch.summary_resend", batch, user=user)
    db.session.commit()
    enqueue_summary(batch.id)


def recover_summaries(grace_seconds: float = 120) -> dict[str, int]:
    """Watchdog: summaries still waiting whose job is gone (Redis restarted: it keeps nothing on disk) are queued
    again; those whose job ended in failure without saying so (worker killed, out of retries) are marked failed."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    from ..queue import get_redis

    report = {"requeued": 0, "failed": 0}
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    waiting = db.session.scalars(
        db.select(Batch).where(
            Batch.summary_status.in_(["pending", "sending", "retrying"]), Batch.finished_at <= cutoff
        )
    ).all()
    for batch in waiting:
        try:
            job = Job.fetch(summary_job_id(batch.id), connection=get_redis())
            status = job.get_status()
        except NoSuchJobError:
            job, status = None, None
        if job is None:
            enqueue_summary(batch.id)
            report["requeued"] += 1
        elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            detail = (job.exc_info or "").strip().splitlines()[-1:] or ["processo di invio interrotto"]
            _finish(batch, "failed", f"Invio del riepilogo interrotto: {detail[0]}")
            report["failed"] += 1
    return report


def summary_account() -> MailAccount | None:
    """The company's ordinary sending account: the default one, else the first active non-PEC one."""
    return db.session.scalars(
        db.select(MailAccount)
        .where(MailAccount.active.is_(True), MailAccount.kind != "pec")
        .order_by(MailAccount.is_default.desc(), MailAccount.id)
        .limit(1)
    ).first()


def person_name(user: User | None, fallback: str = "-") -> str:
    """A person as people call them: full name, else username."""
    if user is None:
        return fallback
    return user.full_name or user.username


def results_url(batch: Batch) -> str:
    """Absolute link to the batch's results page (PUBLIC_BASE_URL, else the address the batch was made from)."""
    path = current_app.url_map.bind("localhost").build("batches.detail", {"batch_id": batch.id})
    return public_base_url(batch) + path


def _readers(batch: Batch) -> list[User]:
    """Who prepared and who approved the batch, once each, with an e-mail address."""
    readers: dict[str, User] = {}
    for user in (batch.created_by, batch.approved_by):
        if user is not None and user.email and user.email.lower() not in readers:
            readers[user.email.lower()] = user
    return list(readers.values())


def _message(batch: Batch, reader: User, account: MailAccount, entry: dict) -> bytes:
    """The summary for one reader, within their clearance, as wire bytes."""
    clearance = int(reader.privacy_clearance)
    counts = batch_counts(batch.id, clearance)
    failed = db.session.scalars(
        db.select(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status.in_(FAILED_STATES), visible_to(clearance))
        .order_by(Delivery.id)
        .limit(200)
    ).all()
    failed_total = sum(counts.get(s, 0) for s in FAILED_STATES)
    context = {
        "batch": batch,
        "counts": counts,
        "failed": failed,
        "failed_total": failed_total,
        "STATUS": DELIVERY_STATUSES,
        "reader_name": person_name(reader),
        "url": results_url(batch),
        "prepared_by": person_name(batch.created_by, "pianificazione automatica"),
        "approved_by": person_name(batch.approved_by, "approvazione automatica"),
    }
    attachments = []
    if failed_total:
        csv_data = export_csv(batch.id, reader, statuses=list(FAILED_STATES))
        attachments.append(Attachment(f"invio-{batch.id}-non-recapitati.csv", "text/csv", csv_data))
    company = get_company()
    return build_message(
        MessageSpec(
            from_address=account.from_address,
            from_name=company.name or account.from_name,
            to=[(person_name(reader, ""), reader.email)],
            subject=(
                f"Recapito: esito dell'invio n. {batch.id} – {plural(counts.get('sent', 0), 'inviato', 'inviati')}, "
                f"{plural(failed_total, 'fallito', 'falliti')}"
            ),
            html=render_template("email/batch_summary.html", **context),
            text=render_template("email/batch_summary.txt", **context),
            message_id=entry["message_id"],
            date=entry["date"],
            attachments=attachments,
        )
    )


def _finish(batch: Batch, status: str, error: str = "") -> str:
    """Record the summary's state and commit."""
    batch.summary_status = status
    batch.summary_error = error[:2000]
    if status in ("sent", "none"):
        batch.summary_sent_at = batch.summary_sent_at or utcnow()
    db.session.commit()
    return status


def send_batch_summary(batch_id: int, retries_left: int | None = None) -> str:
    """Send the summary to each reader not reached yet; returns the summary's state.

    "sent" (all readers reached; never sent twice), "none" (nobody to tell), "failed" (with the reason),
    or "retrying" when a temporary failure will be retried (`retries_left`: the RQ job's, when in a job).
    """
    if retries_left is None:
        job = get_current_job()
        retries_left = (job.retries_left or 0) if job is not None else 0
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        return "missing"
    if batch.summary_sent_at is not None:  # already told: never twice
        return batch.summary_status or "sent"
    readers = _readers(batch)
    if not readers:
        return _finish(batch, "none", "Chi ha preparato e approvato l'invio non ha un indirizzo e-mail.")
    account = summary_account()
    if account is None:
        return _finish(
            batch,
            "failed",
            "Nessun account di invio ordinario attivo: aggiungine uno in Amministrazione › Account di invio.",
        )
    from .sending import smtp_settings

    try:
        settings = smtp_settings(account)
    except ValueError as exc:
        return _finish(batch, "failed", f"Account «{account.name}»: {exc}")
    entries = {k: dict(v) for k, v in (batch.summary_messages or {}).items()}
    for reader in readers:
        entries.setdefault(
            reader.email.lower(),
            {
                "message_id": make_msgid(
                    idstring=f"rcp-riepilogo{batch.id}", domain=address_domain(account.from_address)
                ),
                "date": format_datetime(datetime.now().astimezone()),
                "status": "pending",
                "code": None,
                "reason": "",
                "name": person_name(reader),
            },
        )
    # Durable before any byte leaves: a retry (or a new worker) sends the same Message-ID and Date.
    batch.summary_messages = entries
    batch.summary_status = "sending"
    batch.summary_attempts = (batch.summary_attempts or 0) + 1
    db.session.commit()
    session = SmtpSession(settings)
    try:
        for reader in readers:
            entry = entries[reader.email.lower()]
            if entry["status"] in ("sent", "failed"):  # reached, or refused for good (5xx): not retried
                continue
            outcome = session.send(
                account.from_address, [reader.email], _message(batch, reader, account, entry)
            )
            entry.update(
                status="sent"
                if outcome.kind == "sent"
                else "failed"
                if outcome.kind == "permanent"
                else "temporary",
                code=outcome.code,
                reason=outcome.text[:500],
            )
    finally:
        session.close()
    batch.summary_messages = {k: dict(v) for k, v in entries.items()}
    return _settle(batch, readers, entries, retries_left)


def _settle(batch: Batch, readers: list[User], entries: dict, retries_left: int) -> str:
    """The summary's state after an attempt, with each unreached reader's reason in words."""
    problems = []
    for reader in readers:
        entry = entries[reader.email.lower()]
        if entry["status"] != "sent":
            code = f"{entry['code']} " if entry.get("code") else ""
            problems.append(f"a {person_name(reader)} <{reader.email}>: {code}{entry['reason']}".strip())
    if not problems:
        return _finish(batch, "sent")
    temporary = any(entries[r.email.lower()]["status"] == "temporary" for r in readers)
    if temporary and retries_left > 0:
        wait = retry_intervals()[max(len(retry_intervals()) - retries_left, 0)]
        return _finish(batch, "retrying", "; ".join(problems) + f" — nuovo tentativo tra {_in_words(wait)}.")
    attempts = f" (dopo {batch.summary_attempts} tentativi)" if temporary else ""
    return _finish(batch, "failed", "Non recapitato" + attempts + " " + "; ".join(problems))


def _in_words(seconds: int) -> str:
    """A wait in Italian words ("30 secondi", "5 minuti", "1 ora")."""
    if seconds < 60:
        return f"{seconds} secondi"
    if seconds < 3600:
        minutes = round(seconds / 60)
        return "1 minuto" if minutes == 1 else f"{minutes} minuti"
    hours = round(seconds / 3600)
    return "1 ora" if hours == 1 else f"{hours} ore"
