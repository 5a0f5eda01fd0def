"""Bounces (non-delivery reports) from every real mail system: which recipients failed, with which
status code, and whether the failure is permanent or temporary. Pure functions over a parsed message.

Order: our RFC 3464 reader first (with the odd forms seen in the wild: missing or unusual `Action:`
values, status codes with comments, reports without per-recipient fields); then GNU Mailman's
detectors (`flufl.bounce`) for the non-standard formats; then our own patterns for what both miss
(Gmail, Exchange/Office 365, Domino, MDaemon, Exim, qmail, Russian and Japanese providers, delay
warnings). Auto-replies, out-of-office messages, read receipts (MDN) and feedback reports (ARF) are
recognised first and are never bounces.
"""

from __future__ import annotations

import copy
import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr

from .mime import header as _header
from .mime import parts as _parts

log = logging.getLogger(__name__)

MAX_SCANNED_TEXT = 200_000  # characters of a report read: what says who bounced stands at the top

_ENH_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_FAILURE_CODE = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])(\d\d)(?=[ -]|$)")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+"
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "mail.daemon")
_BOUNCE_NAMES = re.compile(
    r"mail(er)?[ -]?daemon|mail delivery|postmaster|system administrator|mail administrator"
    r"|delivery subsystem|mail ?system",
    re.IGNORECASE,
)
# Subjects of non-delivery reports (decoded), in the languages seen on real servers.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|return(ed)? to sender|mail delivery (failed|failure|subsystem|problem)"
    r"|delivery status notification|delivery (has )?fail|failure notice|delivery failure|delivery problem"
    r"|nondeliverable|non[- ]deliver|could not be delivered|not delivered|delivery notification"
    r"|message (was )?not delivered|mail system error|mail error|processing error|mail failed|permanent error|delivery report|rejected|returned"
    r"|warning: (could not send|message .* delayed)|delayed mail|delivery delayed|message delayed"
    r"|non recapitabil|mancato recapito|impossibile recapitare|messaggio non recapitato|errore di consegna"
    r"|nicht zustellbar|unzustellbar|konnte nicht zugestellt|zustellung fehlgeschlagen|fehlgeschlagen"
    r"|non remis|non distribu|échec de (la )?remise|echec de (la )?remise|impossible de remettre"
    r"|no se pudo entregar|no entregado|imposible entregar|onbestelbaar|niet afgeleverd|olevererbart"
    r"|nie dostarczono|nedoručitelné|kézbesíthetetlen|levering mislukt"
    r"|не доставлен|недоставлен|не может быть доставлен|ошибка доставки|возврат"
    r"|配信不能|配送不能|配信エラー|送信エラー|未配達|宛先不明|エラーメール|退信|系统退信|退回|无法投递",
    re.IGNORECASE,
)
# Auto-replies (RFC 3834 and the usual subjects): never bounces.
_AUTOREPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|risposta|antwort)|autoreply|auto:|out of (the )?office|abwesen"
    r"|risposta automatica|fuori (ufficio|sede)|assente|réponse automatique|absence|respuesta autom"
    r"|automatisch(e)? antwort|afwezig|automatiskt svar|автоответ|自動応答|不在|vacation|on leave"
    r"|.*automatiska atbilde|.*atvaļinājum|.*atvalinajum)",
    re.IGNORECASE,
)
# Bodies that only a non-delivery report carries (both the classic ones and the providers').
_BOUNCE_BODY = (
    "this is the qmail-send program",
    "delivery has failed to these recipients",
    "your message did not reach some or all of the intended recipients",
    "i'm afraid i wasn't able to deliver",
    "message could not be delivered",
    "this message was created automatically by mail delivery software",
    "could not be delivered to one or more",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "the following address(es) failed",
    "your message wasn't delivered",
    "cannot be delivered to the following",
    "could not be delivered",
    "your message couldn't be delivered",
    "address not found",
    "was not delivered to:",
    "delivery failure report",
    "message not delivered",
    "unable to deliver",
    "permanent fatal errors",
    "the original message was received at",
    "undeliverable message",
    "recipient address rejected",
    "user unknown",
    "mailbox unavailable",
    "does not exist",
    "delivery to the following recipient has been delayed",
    "has not yet been delivered",
    "will be retried",
    "has been delayed",
    "could not send message for past",
    "delivery attempts will continue",
    "не может быть доставлено",
    "не доставлено",
    "сообщение не было доставлено",
    "配信できませんでした",
    "届けることができませんでした",
    "送信できませんでした",
)
_DELAY_WORDS = (
    "delay",
    "will retry",
    "will be retried",
    "not yet been delivered",
    "still trying",
    "retry",
    "temporar",
    "postponed",
    "could not send message for past",
    "warning:",
    "attempts will continue",
    "verzögert",
    "ritardat",
    "задерж",
    "遅延",
)
_WARNING = re.compile(
    r"not yet been delivered|will be retried|attempts will continue|no action is required"
    r"|this is a warning|warning only|delivery (has been )?delayed|still being retried",
    re.IGNORECASE,
)
_PERMANENT_WORDS = (
    "permanent",
    "given up",
    "gave up",
    "giving up",
    "does not exist",
    "user unknown",
    "no such user",
    "unknown user",
    "not found",
    "mailbox unavailable",
    "invalid recipient",
    "address rejected",
    "unrouteable",
    "unknown recipient",
)


@dataclass
class BouncedRecipient:
    """One recipient a bounce reports: its address, status code (e.g. 5.1.1) and action."""

    address: str
    status: str = ""
    action: str = "failed"  # failed | delayed
    also: list[str] = field(default_factory=list)  # the other name of the same recipient (Original/Final)

    @property
    def permanent(self) -> bool:
        """True when the server gave up on this recipient."""
        return self.action == "failed"

    def as_dict(self) -> dict:
        """{address, status, action} as stored and printed."""
        return {"address": self.address, "status": self.status, "action": self.action}


@dataclass
class BounceReport:
    """What a bounce says: the recipients and whether it is final."""

    recipients: list[BouncedRecipient]
    permanent: bool
    reason: str = ""
    dsn: bool = False  # the recipients come from an RFC 3464 report
    detector: str = ""  # rfc3464 | flufl:<name> | text
    last_attempt: str = ""  # the report's Last-Attempt-Date, as written

    def addresses(self, permanent_only: bool = False) -> set[str]:
        """Every address named (Final-Recipient and Original-Recipient alike), lower case."""
        found = set()
        for recipient in self.recipients:
            if permanent_only and not recipient.permanent:
                continue
            found.add(recipient.address)
            found.update(recipient.also)
        return found


# ---------------------------------------------------------------- small helpers


def decoded_header(msg: Message, name: str) -> str:
    """A header with its RFC 2047 words decoded, on one line."""
    value = _header(msg, name)
    try:
        value = str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - an undecodable word stays as it is
        pass
    return " ".join(value.split())


def _clean_address(value: str) -> str:
    """A bare address, lower case, without rfc822; prefix, brackets or quotes ('' when not one)."""
    value = value.split(";", 1)[-1] if ";" in value[:12] else value
    value = value.strip().strip("<>\"' ").rstrip(".,;:)").lstrip("(")
    match = _ADDRESS.search(value)
    return match.group(0).lower().rstrip(".") if match else ""


def _status_of(*texts: str, failures_only: bool = True) -> str:
    """The enhanced status code (5.1.1) in the texts, else the SMTP reply code (550), else ''."""
    for text in texts:
        match = (_FAILURE_CODE if failures_only else _ENH_CODE).search(text or "")
        if match:
            return ".".join(match.groups())
    for text in texts:
        match = _SMTP_CODE.search(text or "")
        if match:
            return match.group(1) + match.group(2)
    return ""


def _report_type(msg: Message) -> str:
    """The report-type parameter of a multipart/report, lower case."""
    try:
        return (
            (msg.get_param("report-type") or "").strip().lower()
            if msg.get_content_type() == "multipart/report"
            else ""
        )
    except Exception:  # noqa: BLE001
        return ""


def status_blocks(msg: Message) -> list[Message] | None:
    """Field blocks of the message/delivery-status part (per-message block first), or None without one."""
    for part in _parts(msg):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks = [p for p in payload if isinstance(p, Message)]
                if len(blocks) == 1 and not blocks[0].keys() and isinstance(blocks[0].get_payload(), str):
                    payload = blocks[0].get_payload()  # a report that starts with a blank line
                else:
                    return blocks
            if isinstance(payload, str):
                try:
                    text = part.get_payload(decode=True)
                    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else payload
                except Exception:  # noqa: BLE001
                    text = payload
                chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
                return [
                    email.message_from_string(c.strip(), policy=email.policy.compat32)
                    for c in chunks
                    if c.strip()
                ]
    return None


def _sender_is_daemon(msg: Message) -> bool:
    """From a mailer daemon / postmaster (by address or display name), or sent with a null return path."""
    name, address = parseaddr(_header(msg, "From"))
    if not address or re.search(r"<\s*>", _header(msg, "From")):
        return True  # From: MAILER-DAEMON <> and the like
    local = address.split("@", 1)[0].lower()
    if local in _BOUNCE_SENDERS or local.startswith(("mailer-daemon", "postmaster", "mail-daemon")):
        return True
    if _BOUNCE_NAMES.search(name or "") or _BOUNCE_NAMES.search(_header(msg, "From").split("<", 1)[0]):
        return True
    return _header(msg, "Return-Path").replace(" ", "") == "<>"


# ---------------------------------------------------------------- never bounces


def _mdn_rejection(msg: Message) -> bool:
    """An MDN that says the message was deleted unread or failed (a Sieve reject, a full mailbox:
    Dovecot sends those as MDNs) — a non-delivery, unlike a read receipt."""
    for part in _parts(msg):
        if part.get_content_type() == "message/disposition-notification":
            payload = part.get_payload()
            block = payload[0] if isinstance(payload, list) and payload else None
            text = _header(block, "Disposition") if isinstance(block, Message) else str(payload)
            if re.search(r"Disposition:", text, re.IGNORECASE):
                text = re.search(r"Disposition:\s*([^\r\n]*)", text, re.IGNORECASE).group(1)
            disposition = text.lower()
            return bool(re.search(r";\s*(deleted|failed|rejected)|/\s*error", disposition))
    return False


def not_a_bounce(msg: Message) -> str:
    """Why an automatic message is not a bounce (read receipt, feedback report, auto-reply), or ''."""
    report = _report_type(msg)
    content_types = {part.get_content_type() for part in _parts(msg)}
    if report == "disposition-notification" or "message/disposition-notification" in content_types:
        if not _mdn_rejection(msg):
            return "conferma di lettura (MDN), non un rimbalzo"
    if report == "feedback-report" or "message/feedback-report" in content_types:
        return "segnalazione di abuso (ARF), non un rimbalzo"
    if status_blocks(msg) is not None:
        return ""
    subject = decoded_header(msg, "Subject")
    autoreply_headers = (
        _header(msg, "X-Autoreply")
        or _header(msg, "X-Autorespond")
        or _header(msg, "X-Autoresponse")
        or _header(msg, "X-Vacation")
        or _header(msg, "Precedence").lower() == "auto_reply"
        or _header(msg, "Auto-Submitted").lower().startswith("auto-replied")
    )
    if _AUTOREPLY_SUBJECT.search(subject) and not _BOUNCE_SUBJECT.search(subject):
        return "risposta automatica (fuori sede), non un rimbalzo"
    if autoreply_headers and not _sender_is_daemon(msg):
        return "risposta automatica, non un rimbalzo"
    return ""


# ---------------------------------------------------------------- RFC 3464


def _action(block: Message, status: str) -> str:
    """failed | delayed | delivered from an Action line, however it is written, or from the status class."""
    words = re.findall(r"[a-z]+", _header(block, "Action").lower())
    action = words[0] if words else ""
    if action in ("failed", "failure", "fail", "error", "bounced", "bounce", "rejected", "undeliverable"):
        return "failed"
    if action in ("delayed", "delay", "deferred", "retrying", "warning", "queued"):
        return "delayed"
    if action in ("delivered", "relayed", "expanded", "success", "ok"):
        return "delivered"
    return {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")


def read_dsn(msg: Message) -> tuple[BounceReport | None, bool]:
    """RFC 3464: (report, True) when the message carries a delivery-status part; the report is None
    when it names no failure (delivered/relayed) — and is recipient-less when it has no per-recipient
    fields (the caller then looks elsewhere for the addresses)."""
    blocks = status_blocks(msg)
    if blocks is None:
        return None, False
    recipients: list[BouncedRecipient] = []
    reasons, succeeded, last_attempt = [], 0, ""
    for block in blocks:
        final = _clean_address(_header(block, "Final-Recipient"))
        original = _clean_address(_header(block, "Original-Recipient"))
        if not (final or original):
            continue
        raw_status = _header(block, "Status")
        diagnostic = " ".join(_header(block, "Diagnostic-Code").split())
        if diagnostic.lower().startswith("smtp;"):
            diagnostic = diagnostic[5:].strip()
        status = _status_of(raw_status, diagnostic, failures_only=False)
        action = _action(block, status)
        if action == "delivered" or (not action and not diagnostic):
            succeeded += 1
            continue
        action = action or ("delayed" if status.startswith("4") else "failed")
        address = original or final
        if any(r.address == address and r.action == action for r in recipients):
            continue  # the same recipient reported twice (seen in the wild)
        recipients.append(
            BouncedRecipient(address, status, action, [final] if final and final != address else [])
        )
        reasons.append(" ".join(x for x in (raw_status, diagnostic) if x))
        last_attempt = last_attempt or _header(block, "Last-Attempt-Date")
    if not recipients and succeeded:
        return None, True
    permanent = any(r.permanent for r in recipients)
    reason = "; ".join(dict.fromkeys(r for r in reasons if r))
    return BounceReport(
        recipients, permanent, reason, dsn=bool(recipients), detector="rfc3464", last_attempt=last_attempt
    ), True


# ---------------------------------------------------------------- flufl.bounce (GNU Mailman)


def _lightened(msg: Message) -> Message:
    """The message as flufl.bounce needs it: attachments (a returned PDF, images) emptied and long texts
    cut, so that its line-by-line matchers do not crawl through megabytes of base64 (a copy when
    anything had to go)."""
    heavy = [
        part
        for part in msg.walk()
        if not part.is_multipart()
        and (
            part.get_content_maintype() not in ("text", "message")
            or len(str(part.get_payload())) > MAX_SCANNED_TEXT
        )
    ]
    if not heavy:
        return msg
    light = copy.deepcopy(msg)
    for part in light.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() not in ("text", "message"):
            part.set_payload("")
        elif isinstance(part.get_payload(), str) and len(part.get_payload()) > MAX_SCANNED_TEXT:
            part.set_payload(part.get_payload()[:MAX_SCANNED_TEXT])
    return light


def read_flufl(msg: Message) -> BounceReport | None:
    """GNU Mailman's detectors, in their own order; None when none recognises the message."""
    try:
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # pragma: no cover - a declared requirement
        return None
    msg = _lightened(msg)
    for detector in _DETECTORS:
        try:
            temporary, permanent = detector().process(msg)
        except Exception:
            log.debug("flufl.bounce %s failed", detector.__name__, exc_info=True)
            continue
        if not (temporary or permanent):
            continue
        recipients = []
        for raw_address, action in [(a, "failed") for a in sorted(permanent)] + [
            (a, "delayed") for a in sorted(temporary - permanent)
        ]:
            text = (
                raw_address.decode("utf-8", "replace") if isinstance(raw_address, bytes) else str(raw_address)
            )
            address = _clean_address(text)
            if address and address not in {r.address for r in recipients}:
                recipients.append(BouncedRecipient(address, "", action))
        if recipients:
            return BounceReport(
                recipients, any(r.permanent for r in recipients), detector=f"flufl:{detector.__name__}"
            )
    return None


# ---------------------------------------------------------------- our own patterns

# Where the failed addresses stand in the formats both readers above miss; the first that finds any wins.
_TEXT_PATTERNS = [
    # qmail / vpopmail / many Russian hosts: "<addr>:" then the reason.
    re.compile(r"^<(?P<a>[^<>\s]+@[^<>\s]+)>:\s*$", re.MULTILINE),
    # Exim: "  addr\n    reason" after "following address(es) failed".
    re.compile(r"following address\(es\) failed:\s*\n+\s*<?(?P<a>[^\s<>]+@[^\s<>:]+)>?", re.IGNORECASE),
    # Gmail: "Delivery to the following recipient failed permanently:\n\n     addr"
    re.compile(
        r"(?:delivery to the following recipients?|following recipients?)[^:\n]*:\s*\n+\s*"
        r"(?P<a>[^\s<>]+@[^\s<>]+)",
        re.IGNORECASE,
    ),
    # Gmail (new): "Your message wasn't delivered to addr because ..."
    re.compile(
        r"(?:wasn't|was not|couldn't be|could not be) delivered to\s+<?(?P<a>[^\s<>]+@[^\s<>]+)",
        re.IGNORECASE,
    ),
    # Exchange / Office 365 (text): "Your message to addr couldn't be delivered."
    re.compile(
        r"your message to\s+<?(?P<a>[^\s<>]+@[^\s<>]+?)>?\s+(?:couldn't|could not|can't|cannot) be delivered",
        re.IGNORECASE,
    ),
    # Exchange / Office 365: "Delivery has failed to these recipients or groups:\n\naddr (addr)"
    re.compile(
        r"(?:recipients or groups|following (?:recipients|addresses|recipient)[^:\n]*):\s*\n+\s*"
        r"(?:[^\n<]*<)?(?P<a>[^\s<>()]+@[^\s<>()]+?)>?[\s(]",
        re.IGNORECASE,
    ),
    # "Delivery of email to this address "addr" has failed" (hosted Exchange and others)
    re.compile(
        r"delivery of (?:e-?mail|(?:your )?message) to (?:this|the following) address(?:es)?\s*\n*\s*"
        r"[\"'<]?(?P<a>[^\s<>\"']+@[^\s<>\"']+)",
        re.IGNORECASE,
    ),
    # Domino: "was not delivered to:\n\n  addr"
    re.compile(r"was not delivered to:\s*\n+\s*(?P<a>[^\s<>]+@[^\s<>]+)", re.IGNORECASE),
    # Amazon SES, MDaemon and others: "Recipient: addr", "Failed address: addr", "Original-Recipient: addr"
    re.compile(
        r"^\s*(?:bounced )?(?:failed )?(?:recipient|address|destinatario|empfänger|получатель|宛先)"
        r"(?:\(s\))?(?: address)?\s*[:：]\s*<?(?:rfc822;\s*)?(?P<a>[^\s<>]+@[^\s<>]+?)>?\s*$",
        re.IGNORECASE | re.MULTILINE,
    ),
    # SMTP transcripts (MDaemon, sendmail): "RCPT To:<addr>" answered by an error
    re.compile(r"RCPT TO:\s*<(?P<a>[^\s<>]+@[^\s<>]+)>[^\n]*\n[^\n]*\b[45]\d\d\b", re.IGNORECASE),
    # "addr: reason" / "<addr>... User unknown" (sendmail-like transcripts)
    re.compile(
        r"^\s*<?(?P<a>[^\s<>]+@[^\s<>]+?)>?(?:\.\.\.|:)\s+(?:.*?)(?:unknown|not exist|no such|invalid"
        r"|rejected|unavailable|disabled|full|over quota|not found)",
        re.IGNORECASE | re.MULTILINE,
    ),
]


def _text_permanence(text: str) -> bool:
    """True (permanent) or False (temporary) from the status codes and words of a bounce text."""
    status = _status_of(text)
    if status:
        return status.startswith("5")
    lowered = text.lower()
    if any(word in lowered for word in _PERMANENT_WORDS):
        return True
    return not any(word in lowered for word in _DELAY_WORDS)


def _line_near(text: str, address: str) -> str:
    """The few lines after an address in a bounce text (where its reason stands)."""
    index = text.lower().find(address)
    return text[index : index + 400] if index >= 0 else ""


def read_text(msg: Message, text: str, own_addresses: set[str]) -> list[BouncedRecipient]:
    """Our own patterns over the report's text: the recipients it names (without ours)."""
    recipients: list[BouncedRecipient] = []
    for pattern in _TEXT_PATTERNS:
        for match in pattern.finditer(text):
            address = _clean_address(match.group("a"))
            if address and address not in own_addresses and address not in {r.address for r in recipients}:
                recipients.append(BouncedRecipient(address))
        if recipients:
            break
    return recipients


def looks_like_bounce(msg: Message, text: str) -> bool:
    """A non-standard bounce: a known report body, or a bounce subject from a mailer daemon/postmaster
    (or from an automatic sender / a null return path)."""
    lowered = text.lower()
    subject = decoded_header(msg, "Subject")
    daemon = _sender_is_daemon(msg)
    automatic = _header(msg, "Auto-Submitted").lower().startswith("auto-")
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject))
    known_body = any(marker in lowered for marker in _BOUNCE_BODY)
    returned = any(
        part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
        for part in _parts(msg)
    )
    return (bounce_subject and (daemon or automatic or returned or known_body)) or (
        known_body and (daemon or automatic)
    )


def _own_addresses(msg: Message) -> set[str]:
    """Addresses that are ours, never the bounced recipient: the report's To/Delivered-To."""
    found = set()
    for name in (
        "To",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "Return-Path",
        "From",
        "Sender",
        "Reply-To",
    ):
        for value in re.findall(_ADDRESS, _header(msg, name)):
            found.add(value.lower())
    return found


def _fill_codes(report: BounceReport, text: str) -> None:
    """Status codes for recipients found without them (flufl, text), and temporary/permanent for the
    ones our text patterns found (flufl says it itself)."""
    whole = _text_permanence(text)
    for recipient in report.recipients:
        near = _line_near(text, recipient.address)
        if not recipient.status:
            recipient.status = _status_of(near) or _status_of(text)
        if report.detector == "text":
            recipient.action = (
                "failed" if (_text_permanence(near) if _status_of(near) else whole) else "delayed"
            )
        elif recipient.permanent and recipient.status.startswith("4") and _WARNING.search(text):
            # flufl's generic matchers take a delay warning for a failure: a 4.x.x status in a text
            # saying that delivery goes on is temporary.
            recipient.action = "delayed"
    report.permanent = any(r.permanent for r in report.recipients) if report.recipients else whole


def _first_reason(text: str) -> str:
    """The most telling line of a non-standard bounce: one with an SMTP code, or after 'Remote Server returned'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        match = re.search(r"Remote Server returned '([^']+)'", line, re.IGNORECASE)
        if match:
            return match.group(1)
    for line in lines:
        if _ENH_CODE.search(line) or re.search(r"\b[45]\d\d[ -]", line):
            if not line.lower().startswith(("received:", "date:", "message-id:")):
                return line[:500]
    return ""


def _candidate(msg: Message, text: str) -> bool:
    """Worth GNU Mailman's detectors: from a mailer daemon or a null sender, automatic, with a bounce
    subject or body, or returning a message (an ordinary e-mail is not scanned line by line)."""
    if _sender_is_daemon(msg) or _header(msg, "Auto-Submitted").lower().startswith("auto-"):
        return True
    if _BOUNCE_SUBJECT.search(decoded_header(msg, "Subject")) or looks_like_bounce(msg, text):
        return True
    return any(
        part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
        for part in _parts(msg)
    )


def read_bounce(msg: Message, text: str) -> BounceReport | None:
    """The bounce a message is, or None (not a bounce, or a delivery report of success)."""
    text = text[:MAX_SCANNED_TEXT].replace("\r\n", "\n")
    if not_a_bounce(msg):
        return None
    report, has_status = read_dsn(msg)
    if has_status and report is None:
        return None  # a report of success: delivered or relayed
    if report is not None and report.recipients:
        if not report.reason:
            report.reason = _first_reason(text)
        return report
    own = _own_addresses(msg)
    fallback = read_flufl(msg) if (has_status or _candidate(msg, text)) else None
    if fallback is not None:
        fallback.recipients = [r for r in fallback.recipients if r.address not in own] or fallback.recipients
    if fallback is None and not has_status and not looks_like_bounce(msg, text):
        return None
    if fallback is None:
        fallback = BounceReport(read_text(msg, text, own), True, detector="text")
    _fill_codes(fallback, text)
    if report is not None and report.reason:
        fallback.reason = report.reason
    fallback.reason = fallback.reason or _first_reason(text)
    return fallback
