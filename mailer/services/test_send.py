"""«Invia una prova a me»: a delivery's (or a template preview's) exact message, sent to the user's own address.

The message is built by the sender's own builder (sending.message_spec + transport.message.build_message):
same account, body and attachments. Only these differ:
- To and the envelope recipient: the current user's address (no Cc: the copies stay with the real message);
- Subject: prefixed «[PROVA] »;
- Message-ID and Date: its own (the delivery's are never set or changed);
- envelope sender: the account's address, never the per-delivery (VERP) return path, so a bounce of the
  test cannot be taken for a bounce of the real delivery;
- a commercial message's unsubscribe link: the contact's token is replaced by an invalid one (the page
  answers «link non valido») and the List-Unsubscribe headers are left out, so the tester cannot
  unsubscribe the real contact, by one click or by the link; the «Gestisci le tue preferenze» link
  likewise leads to an invalid token.
A test is never counted as sent: the delivery (status, attempts, Message-ID, digest) and its documents'
sent state are not touched. It takes one message from the account's rate budget, like any message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, make_msgid

from ..extensions import db
from ..models import Delivery, MailAccount
from ..transport.message import MessageSpec, address_domain, build_message
from ..transport.smtp import SmtpSession
from . import sending
from .audit import audit
from .preferences import neutral_preferences_links

SUBJECT_PREFIX = "[PROVA] "
NEUTRAL_TOKEN = "prova-disiscrizione-disattivata"
UNSUBSCRIBE_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


class TestSendError(Exception):
    """The test cannot be sent (message in Italian, for the page)."""

    __test__ = False  # not a pytest class


@dataclass
class TestSendResult:
    """What happened: ok, the Italian message for the page, the address it went to."""

    __test__ = False

    ok: bool
    message: str
    to: str = ""


def recipient_of(user) -> str:
    """The user's own address, or TestSendError saying where to set it."""
    address = (getattr(user, "email", "") or "").strip()
    if not address:
        raise TestSendError(
            "Il tuo utente non ha un indirizzo e-mail: impostalo nel profilo (o chiedilo "
            "all'amministratore, in Amministrazione › Utenti) e riprova."
        )
    return address


def as_test(spec: MessageSpec, user, account: MailAccount, contact_id: int | None = None) -> MessageSpec:
    """The same message re-addressed to the user: To, Subject, own Message-ID/Date, no Cc, no unsubscribe."""
    address = recipient_of(user)
    spec.to = [(user.full_name or user.username, address)]
    spec.cc = []
    spec.subject = SUBJECT_PREFIX + spec.subject
    spec.message_id = make_msgid(idstring="rcp-prova", domain=address_domain(account.from_address))
    spec.date = format_datetime(datetime.now().astimezone())
    # The «Gestisci le tue preferenze» link would let the tester act for the recipient: it leads nowhere.
    spec.html, spec.text = neutral_preferences_links(spec.html), neutral_preferences_links(spec.text)
    if any(name in spec.headers for name in UNSUBSCRIBE_HEADERS):
        for name in UNSUBSCRIBE_HEADERS:
            spec.headers.pop(name, None)
        if contact_id is not None:
            from .campaigns import unsubscribe_token

            token = unsubscribe_token(contact_id)
            spec.html = spec.html.replace(token, NEUTRAL_TOKEN)
            spec.text = spec.text.replace(token, NEUTRAL_TOKEN)
    return spec


def delivery_test_spec(delivery: Delivery, user) -> tuple[MessageSpec, MailAccount]:
    """The delivery's message as the sender builds it, re-addressed to the user."""
    account = db.session.get(MailAccount, delivery.account_id) if delivery.account_id else None
    if account is None:
        raise TestSendError("Questo recapito non ha un account di invio: non c'è un messaggio da provare.")
    recipient_of(user)
    spec = sending.message_spec(delivery, account)
    return as_test(spec, user, account, delivery.contact_id), account


def send_spec(spec: MessageSpec, account: MailAccount, obj, user, **details) -> TestSendResult:
    """Send a test message through the account's SMTP and audit it (committed); never raises for SMTP trouble."""
    to = spec.to[0][1]
    if not account.active:
        raise TestSendError(f"L'account «{account.name}» è disattivato: riattivalo per inviare una prova.")
    wait = sending.reserve_one(account)
    if wait:
        raise TestSendError(
            f"L'account «{account.name}» ha raggiunto il suo limite di invii: riprova tra "
            f"{int(wait) + 1} secondi."
        )
    data = build_message(spec)
    try:
        settings = sending.smtp_settings(account)
    except ValueError:
        raise TestSendError(
            f"La password dell'account «{account.name}» non si può leggere (chiave cambiata): "
            "reimpostala nell'account."
        ) from None
    session = SmtpSession(settings)
    try:
        outcome = session.send(account.from_address, [to], data)
    finally:
        session.close()
    ok = outcome.kind == "sent"
    audit(
        "delivery.test_send",
        obj,
        user=user,
        to=to,
        account=account.name,
        ok=ok,
        outcome=outcome.kind,
        smtp_code=outcome.code,
        smtp_reason=outcome.text[:500],
        message_id=spec.message_id,
        **details,
    )
    db.session.commit()
    if ok:
        return TestSendResult(
            True, f"Prova inviata a {to} dall'account «{account.name}»: controlla la tua casella.", to
        )
    code = f" (codice {outcome.code})" if outcome.code else ""
    if outcome.kind == "uncertain":
        text = f"Il server dell'account «{account.name}» non ha risposto dopo il messaggio: la prova potrebbe essere arrivata."
    else:
        text = f"Prova non inviata: il server dell'account «{account.name}» ha risposto{code}: {outcome.text}"
    return TestSendResult(False, text, to)
