"""Delivery tracking: PEC receipts and bounces land on the delivery they belong to.

Every received message (read from an account's IMAP folder, or imported from a file) is kept byte
for byte (a Blob) with a `Receipt` row saying what it is and what became of it. A message is
processed once: the receipt row is unique per mailbox message (account, folder, UIDVALIDITY, UID)
and per content (SHA-256), and it is written in the same transaction as the delivery's new state,
so two readers racing on the same message cannot both apply it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Contact, Delivery, MailAccount, MailboxState, Receipt, utcnow
from ..transport.imap import ImapError, ImapMailbox, ImapSettings
from ..transport.inbound import InboundMessage, read_message
from . import oauth_tokens, pec_trust, webhooks
from .audit import audit
from .blobs import store_blob
from .crypto import decrypt_secret

POLL_MAX_MESSAGES = 500  # per folder and run: the next run takes the rest
_AFTER_STATES = ("sent", "uncertain", "bounced")  # a receipt/bounce can move these to "bounced"


@dataclass
class RecordResult:
    """What happened to one received message."""

    receipt: Receipt
    info: InboundMessage | None
    duplicate: bool = False


# ---------------------------------------------------------------- per-delivery return path


def _verp_signature(delivery_id: int) -> str:
    """8 hex digits that only we can compute for a delivery id."""
    key = ("recapito-verp:" + current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, str(delivery_id).encode(), hashlib.sha256).hexdigest()[:8]


def verp_address(from_address: str, delivery_id: int) -> str:
    """A per-delivery return path `local+rcp<ID>-<sig>@domain` (for servers with sub-addressing)."""
    local, _, domain = from_address.partition("@")
    return f"{local}+rcp{delivery_id}-{_verp_signature(delivery_id)}@{domain}"


# ---------------------------------------------------------------- matching and applying


def find_delivery(message_id: str) -> Delivery | None:
    """The delivery whose message had this Message-ID (given with or without <>)."""
    bare = message_id.strip().strip("<>")
    if not bare:
        return None
    return db.session.scalar(
        db.select(Delivery).where(Delivery.message_id.in_([f"<{bare}>", bare])).order_by(Delivery.id).limit(1)
    )


def _match(info: InboundMessage) -> tuple[Delivery | None, list[str]]:
    """The delivery a receipt/bounce refers to, and problems that forbid applying it."""
    problems: list[str] = []
    delivery = find_delivery(info.referenced_message_id) if info.referenced_message_id else None
    if info.verp_delivery_id is not None:
        verp_ok = hmac.compare_digest(info.verp_signature, _verp_signature(info.verp_delivery_id))
        if not verp_ok:
            problems.append("indirizzo di ritorno per recapito con firma non valida")
        elif delivery is None and not info.referenced_message_id:
            delivery = db.session.get(Delivery, info.verp_delivery_id)
        elif delivery is not None and delivery.id != info.verp_delivery_id:
            problems.append("indirizzo di ritorno e Message-ID indicano recapiti diversi")
    return delivery, problems


def _addresses(delivery: Delivery) -> tuple[str, set[str]]:
    """(recipient, cc addresses), lower case."""
    cc = {a.strip().lower() for a in (delivery.cc or "").split(",") if a.strip()}
    return (delivery.recipient_email or "").strip().lower(), cc


def _earliest(current, new):
    """The earlier of two times (None-safe)."""
    if current is None:
        return new
    return min(current, new) if new is not None else current


def _count_bounce(delivery: Delivery) -> None:
    """One more permanent bounce for the delivery's contact."""
    if delivery.contact_id:
        contact = db.session.get(Contact, delivery.contact_id)
        if contact is not None:
            # An SQL increment: two readers bouncing two deliveries of one contact both count.
            contact.bounce_count = db.func.coalesce(Contact.bounce_count, 0) + 1


def _apply_pec(delivery: Delivery, info: InboundMessage, notes: list[str]) -> str:
    """Record a PEC receipt's state on the delivery; returns the receipt outcome."""
    when = info.event_at or utcnow()
    kind = info.receipt_type
    recipient, cc = _addresses(delivery)
    delivered_to = set(info.recipients)
    if (
        kind in ("avvenuta-consegna", "errore-consegna", "preavviso-errore-consegna")
        and delivered_to
        and recipient not in delivered_to
        and delivered_to & cc
    ):
        notes.append(f"riguarda il destinatario in copia {', '.join(sorted(delivered_to & cc))}")
        return "recorded"
    if delivered_to and recipient and recipient not in delivered_to:
        notes.append(
            f"indirizzo di consegna {', '.join(sorted(delivered_to))} diverso dal destinatario {recipient}"
        )
    if kind == "accettazione":
        delivery.pec_accepted_at = _earliest(delivery.pec_accepted_at, when)
        return "applied"
    if kind == "avvenuta-consegna":
        delivery.pec_delivered_at = _earliest(delivery.pec_delivered_at, when)
        return "applied"
    if kind in ("non-accettazione", "errore-consegna", "rilevazione-virus"):
        prefix = {
            "non-accettazione": "Non accettato dal gestore PEC",
            "errore-consegna": "Mancata consegna",
            "rilevazione-virus": "Virus rilevato",
        }[kind]
        first = delivery.pec_failed_at is None
        delivery.pec_failed_at = _earliest(delivery.pec_failed_at, when)
        delivery.pec_failure_reason = f"{prefix}: {info.reason}" if info.reason else prefix
        if delivery.status in _AFTER_STATES:
            delivery.status = "bounced"
        if first and kind == "errore-consegna":
            _count_bounce(delivery)
        return "applied"
    return "recorded"  # presa-in-carico, preavviso-errore-consegna: kept, no state change


def _bounce_target(delivery: Delivery, info: InboundMessage) -> tuple[str, bool | None, str]:
    """Whom a matched bounce is about: ("recipient", permanent?, "") for the delivery's recipient,
    ("cc", None, note) for one of its copies, ("other", None, note) for an address that is not this
    delivery's, ("unnamed", None, note) when the bounce names no address at all."""
    recipient, cc = _addresses(delivery)
    report = info.bounce
    named = report.addresses() if report is not None else set(info.recipients)
    if not named:
        return "unnamed", None, "il rimbalzo non nomina il destinatario"
    if recipient in named:
        mine = (
            [r for r in report.recipients if recipient in {r.address, *r.also}] if report is not None else []
        )
        return "recipient", any(r.permanent for r in mine) if mine else info.receipt_type == "permanent", ""
    if named & cc:
        return "cc", None, f"riguarda il destinatario in copia {', '.join(sorted(named & cc))}"
    return "other", None, f"il rimbalzo riguarda {', '.join(sorted(named))}, non {recipient}"


def _apply_bounce(delivery: Delivery, info: InboundMessage, notes: list[str], permanent: bool) -> str:
    """Record a bounce for the delivery's own recipient; returns the receipt outcome."""
    if not permanent:
        notes.append("rimbalzo temporaneo: il server ritenterà, lo stato non cambia")
        return "recorded"
    first = delivery.bounced_at is None
    delivery.bounced_at = _earliest(delivery.bounced_at, info.event_at or utcnow())
    delivery.bounce_reason = info.reason or delivery.bounce_reason or "Rimbalzato"
    if delivery.status in _AFTER_STATES:
        delivery.status = "bounced"
    if first:
        _count_bounce(delivery)
    return "applied"


def _trust_problems(
    raw: bytes, info: InboundMessage, delivery: Delivery | None, receipt: Receipt
) -> list[str]:
    """Why a PEC receipt is not genuine ([] when it is: signed by a trusted provider, sent by the account's
    provider system); notes the signer and the trust outcome on the receipt."""
    verdict = pec_trust.check_receipt(raw, info, delivery)
    receipt.trust_status, receipt.signer = verdict.check.status, verdict.check.signer_subject[:500]
    return verdict.problems


def _outcome(info: InboundMessage, receipt: Receipt, raw: bytes) -> None:
    """Match and apply a parsed message; fills the receipt's outcome, delivery and notes."""
    notes = list(info.notes)
    problems = list(info.problems)
    trust_problems: list[str] = []
    if info.malformed:
        receipt.outcome = "malformed"
    elif info.kind == "other":
        receipt.outcome = "ignored"
    else:
        delivery, match_problems = _match(info)
        problems += match_problems
        if info.kind == "pec-receipt":
            trust_problems = _trust_problems(raw, info, delivery, receipt)
        target, permanent = "", None
        if delivery is not None and info.kind == "bounce" and not problems:
            # A bounce lands only on the delivery whose recipient it names: Message-ID and return
            # path say which message, the report says which address.
            target, permanent, note = _bounce_target(delivery, info)
            if note:
                notes.append(note)
            if target == "unnamed" and info.verp_delivery_id is None:
                notes.append("Message-ID senza indirizzo: da verificare, lo stato non cambia")
            if target == "other":
                delivery = None
        if problems or (trust_problems and delivery is not None):
            receipt.outcome = "suspect"
        elif delivery is None:
            receipt.outcome = "unmatched"
        else:
            receipt.delivery_id = delivery.id
            if info.kind == "pec-receipt":
                if delivery.account is not None and not delivery.account.is_pec:
                    notes.append("ricevuta PEC per un messaggio inviato da un account non PEC")
                receipt.outcome = _apply_pec(delivery, info, notes)
            elif target == "recipient" or (target == "unnamed" and info.verp_delivery_id is not None):
                receipt.outcome = _apply_bounce(
                    delivery,
                    info,
                    notes,
                    bool(permanent) if target == "recipient" else info.receipt_type == "permanent",
                )
            else:
                receipt.outcome = "recorded"  # a copy's address, or no address with only the Message-ID
            if receipt.outcome == "applied":
                webhooks.emit_receipt(delivery.id, info.kind, info.receipt_type, info.reason or "")
    receipt.notes = "; ".join(dict.fromkeys(trust_problems + problems + notes))[:4000]


class ConfirmError(ValueError):
    """A receipt that cannot be confirmed (Italian message)."""


def confirmable_delivery(receipt: Receipt) -> Delivery | None:
    """The delivery a «sospetta» PEC receipt would apply to once confirmed (None when it cannot be confirmed:
    not suspect, not a PEC receipt, or its Message-ID names no delivery of ours)."""
    if receipt.outcome != "suspect" or receipt.kind != "pec-receipt" or receipt.delivery_id is not None:
        return None
    return find_delivery(receipt.referenced_message_id) if receipt.referenced_message_id else None


def confirm_receipt(receipt: Receipt, user, raw: bytes) -> str:
    """A person vouches for a «sospetta» PEC receipt: apply it to its delivery now, say who and when,
    audited; returns the new outcome. `raw` is the stored original (checked by the caller). Commits."""
    delivery = confirmable_delivery(receipt)
    if delivery is None:
        raise ConfirmError(
            "Questa ricevuta non è da confermare (non è sospetta o non riguarda un nostro recapito)."
        )
    info = read_message(raw, check_signature=False)
    if info.kind != "pec-receipt" or info.malformed:
        raise ConfirmError("La ricevuta conservata non è leggibile: non si può applicare.")
    notes: list[str] = []
    outcome = _apply_pec(delivery, info, notes)
    if outcome == "applied":
        webhooks.emit_receipt(delivery.id, info.kind, info.receipt_type, info.reason or "")
    before = receipt.notes
    receipt.outcome, receipt.delivery_id = outcome, delivery.id
    receipt.confirmed_by_id, receipt.confirmed_at = user.id, utcnow()
    receipt.notes = "; ".join(dict.fromkeys([f"confermata da {user.username}", before, *notes]))[:4000]
    audit(
        "receipt.confirm",
        receipt,
        delivery_id=delivery.id,
        receipt_type=receipt.receipt_type,
        suspect_reasons=before,
        outcome=outcome,
    )
    db.session.commit()
    return outcome


def record_message(
    raw: bytes,
    account: MailAccount | None = None,
    source: str = "file",
    folder: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    file_name: str = "",
    oversize: int | None = None,
) -> RecordResult:
    """Keep one received message and apply it to its delivery, once; commits.

    `oversize`: the size of a mailbox message too large to download, of which `raw` holds only the
    headers; they are kept to say what it was, and never applied (a receipt is only believed with its
    body: daticert.xml and the signature).
    """
    sha = hashlib.sha256(raw).hexdigest()
    existing = _existing(sha, account, folder, uidvalidity, uid)
    if existing is not None:
        return RecordResult(existing, None, duplicate=True)
    info = read_message(raw, check_signature=oversize is None)
    receipt = Receipt(
        account_id=account.id if account else None,
        source=source,
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        file_name=file_name[:255],
        kind=info.kind,
        receipt_type=info.receipt_type[:40],
        referenced_message_id=info.referenced_message_id[:255],
        message_id=info.message_id[:255],
        sender=info.sender[:254],
        subject=info.subject[:500],
        event_at=info.event_at,
        reason=info.reason[:4000],
        signature_verified=info.signature_verified,
        signature_status=info.signature_status,
        raw_sha256=sha,
        bounce_recipients=[r.as_dict() for r in info.bounce.recipients][:100] if info.bounce else [],
        size_bytes=len(raw),
        received_at=utcnow(),
    )
    try:
        store_blob(raw, "message/rfc822")
        if oversize is None:
            _outcome(info, receipt, raw)
        else:
            receipt.outcome, receipt.reason = "oversize", ""
            receipt.notes = (
                f"messaggio di {oversize / 1048576:.1f} MB oltre il limite di "
                f"{inbound_max_bytes() / 1048576:.1f} MB (INBOUND_MAX_BYTES): non scaricato né "
                "applicato; si conservano le sole intestazioni e il messaggio resta nella casella, "
                "da leggere con il programma di posta"
            )
        db.session.add(receipt)
        db.session.commit()
    except IntegrityError:
        # Another reader recorded the same message meanwhile: its transaction won, ours changes nothing.
        db.session.rollback()
        existing = _existing(sha, account, folder, uidvalidity, uid)
        if existing is None:
            raise
        return RecordResult(existing, info, duplicate=True)
    return RecordResult(receipt, info)


def inbound_max_bytes() -> int:
    """Messages above this size are not downloaded from a mailbox (INBOUND_MAX_BYTES setting)."""
    return int(current_app.config.get("INBOUND_MAX_BYTES", 50 * 1024 * 1024))


def _existing(sha: str, account, folder, uidvalidity, uid) -> Receipt | None:
    """A receipt already recorded for these bytes or this mailbox message."""
    found = db.session.scalar(db.select(Receipt).where(Receipt.raw_sha256 == sha))
    if found is None and account is not None and uid is not None:
        found = db.session.scalar(
            db.select(Receipt).where(
                Receipt.account_id == account.id,
                Receipt.folder == folder,
                Receipt.uidvalidity == uidvalidity,
                Receipt.uid == uid,
            )
        )
    return found


# ---------------------------------------------------------------- mailbox reading


def imap_settings(account: MailAccount) -> ImapSettings:
    """IMAP settings of an account, with the password decrypted (ImapError when it cannot be)."""
    config = current_app.config
    try:
        password = decrypt_secret(account.imap_password_encrypted or account.password_encrypted)
    except ValueError as exc:
        # A mailbox that cannot be read like any other: on its state row, and the other accounts go on.
        raise ImapError(str(exc)) from exc
    return ImapSettings(
        host=account.imap_host,
        port=account.imap_port or 993,
        username=account.imap_username or account.username,
        password=password,
        allow_plaintext_loopback=bool(config.get("IMAP_PLAINTEXT_LOOPBACK", False)),
        ca_file=config.get("IMAP_CA_FILE", "") or "",
        ca_pem=account.tls_ca_pem or "",
        timeout=float(config.get("IMAP_TIMEOUT_SECONDS", 60)),
        token_provider=oauth_tokens.token_provider(account) if oauth_tokens.is_oauth(account) else None,
    )


def poll_account(account_id: int, limit: int | None = None) -> dict:
    """Read the new messages of one account's IMAP folder; raises ImapError when the mailbox cannot be read."""
    from ..queue import get_redis

    account = db.session.get(MailAccount, account_id)
    if account is None or not account.imap_host:
        return {"account": account_id, "read": 0, "skipped": "no-imap"}
    folder = account.imap_folder or "INBOX"
    # One reader per account at a time; the unique keys still protect us if the lock expires.
    lock = get_redis().lock(f"recapito:imap:{account.id}", timeout=1800, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return {"account": account.id, "read": 0, "skipped": "busy"}
    try:
        return _poll(
            account, folder, limit or int(current_app.config.get("IMAP_POLL_MAX", POLL_MAX_MESSAGES))
        )
    finally:
        with contextlib.suppress(Exception):  # an expired lock is released already
            lock.release()


def _state(account: MailAccount, folder: str) -> MailboxState:
    """The reading state of a folder (created on first use)."""
    state = db.session.scalar(
        db.select(MailboxState).where(MailboxState.account_id == account.id, MailboxState.folder == folder)
    )
    if state is None:
        state = MailboxState(
            account_id=account.id, folder=folder, uidvalidity=0, last_uid=0, last_error="", messages_read=0
        )
        db.session.add(state)
        db.session.commit()
    return state


def _poll(account: MailAccount, folder: str, limit: int) -> dict:
    """Fetch, record, leave as configured, remember the UID: message by message."""
    state = _state(account, folder)
    report = {"account": account.id, "read": 0, "duplicates": 0, "applied": 0}
    try:
        with ImapMailbox(imap_settings(account)) as box:
            uidvalidity = box.select(folder)
            if state.uidvalidity != uidvalidity:
                # A new UIDVALIDITY means the old UIDs mean nothing: read the folder again (the
                # content hash keeps messages already recorded from being applied twice).
                state.uidvalidity, state.last_uid = uidvalidity, 0
                db.session.commit()
            for uid in box.uids_after(state.last_uid)[:limit]:
                size = box.size(uid)
                if size is not None and size > inbound_max_bytes():
                    # Not downloaded (memory, database): its headers are kept to say what it was,
                    # and the message stays in the mailbox as it is, unread, for a person.
                    header = box.fetch_header(uid)
                    if header is not None:
                        result = record_message(
                            header, account, "imap", folder, uidvalidity, uid, oversize=size
                        )
                        report["read"] += 1
                        report["duplicates"] += int(result.duplicate)
                    raw = None
                else:
                    raw = box.fetch(uid)
                if raw is not None:
                    result = record_message(raw, account, "imap", folder, uidvalidity, uid)
                    report["read"] += 1
                    report["duplicates"] += int(result.duplicate)
                    report["applied"] += int(not result.duplicate and result.receipt.outcome == "applied")
                    # Recorded (committed) first, then marked/moved: a crash in between re-reads the
                    # message next time, finds its receipt, and only repeats the mailbox action.
                    box.apply_after(uid, account.imap_after)
                state.last_uid = uid
                state.messages_read = (state.messages_read or 0) + 1
                db.session.commit()
    except ImapError as exc:
        db.session.rollback()
        state.last_error = str(exc)[:2000]
        state.last_polled_at = utcnow()
        db.session.commit()
        raise
    state.last_error = ""
    state.last_polled_at = utcnow()
    db.session.commit()
    return report


def poll_all() -> dict:
    """Read every active account with IMAP settings; raises at the end if any mailbox failed."""
    ids = db.session.scalars(
        db.select(MailAccount.id)
        .where(MailAccount.active.is_(True), MailAccount.imap_host != "")
        .order_by(MailAccount.id)
    ).all()
    reports, errors = [], []
    for account_id in ids:
        try:
            reports.append(poll_account(account_id))
        except ImapError as exc:
            current_app.logger.warning("IMAP account %s: %s", account_id, exc)
            errors.append(f"account {account_id}: {exc}")
    if errors:
        raise ImapError("; ".join(errors))
    return {"accounts": reports}


# ---------------------------------------------------------------- read side


def receipts_by_delivery(deliveries: Sequence[Delivery]) -> dict[int, list[Receipt]]:
    """Receipts linked to these deliveries (a page of them, in hand), oldest first, grouped by delivery."""
    if not deliveries:
        return {}
    delivery_ids = [d.id for d in deliveries]
    rows = db.session.scalars(
        db.select(Receipt).where(Receipt.delivery_id.in_(delivery_ids)).order_by(Receipt.event_at, Receipt.id)
    )
    grouped: dict[int, list[Receipt]] = {}
    for receipt in rows:
        grouped.setdefault(receipt.delivery_id, []).append(receipt)
    # PEC receipts kept «sospette» (not linked) whose Message-ID names one of these deliveries: shown too,
    # marked, so that a person sees there is something to check.
    by_message = {(d.message_id or "").strip().strip("<>"): d.id for d in deliveries if d.message_id}
    if by_message:
        for receipt in db.session.scalars(
            db.select(Receipt)
            .where(
                Receipt.delivery_id.is_(None),
                Receipt.outcome == "suspect",
                Receipt.kind == "pec-receipt",
                Receipt.referenced_message_id.in_(list(by_message)),
            )
            .order_by(Receipt.event_at, Receipt.id)
        ):
            grouped.setdefault(by_message[receipt.referenced_message_id], []).append(receipt)
    return grouped
