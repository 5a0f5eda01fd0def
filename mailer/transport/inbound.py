"""Reading messages that come back: PEC receipts (X-Ricevuta + daticert.xml) and bounces (RFC 3464 and
the common non-standard forms). Pure functions over the raw bytes: no database, no network.

`read_message(raw)` never raises on bad input: a message it cannot make sense of comes back as kind
"other" with `malformed=True` and the problem in `problems`.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from defusedxml import ElementTree as SafeET

from .bounces import BounceReport, not_a_bounce, read_bounce, status_blocks
from .mime import decoded_payload
from .mime import header as _header
from .mime import parts as _parts

PEC_TYPES = (
    "accettazione",
    "non-accettazione",
    "presa-in-carico",
    "avvenuta-consegna",
    "errore-consegna",
    "preavviso-errore-consegna",
    "rilevazione-virus",
)
# Receipts are always sent by the provider's "posta-certificata@<domain>" mailbox (DM 2/11/2005, RFC 6109 §3).
PEC_SENDER_LOCAL = "posta-certificata"
MAX_DATICERT = 256 * 1024

_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_BODY_MSGID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)
_VERP = re.compile(
    r"^(?P<local>[^+@]+)\+rcp(?P<id>\d{1,12})-(?P<sig>[0-9a-f]{8})@(?P<domain>.+)$", re.IGNORECASE
)


@dataclass
class InboundMessage:
    """What a received message is and what it says about which original message."""

    kind: str = "other"  # pec-receipt | bounce | other
    receipt_type: str = ""  # X-Ricevuta value; for bounces "permanent" | "temporary"
    referenced_message_id: str = ""  # the original message's Message-ID, without <>
    message_id: str = ""  # the received message's own Message-ID, without <>
    sender: str = ""
    to: list[str] = field(default_factory=list)
    subject: str = ""
    event_at: datetime | None = None  # UTC, naive
    reason: str = ""
    recipients: list[str] = field(default_factory=list)  # consegna / Final-Recipient addresses
    daticert: dict | None = None
    signature_status: str = "unsigned"  # verified | failed | unsigned
    problems: list[str] = field(default_factory=list)  # make the message suspect: not applied
    notes: list[str] = field(default_factory=list)  # worth knowing, not blocking
    malformed: bool = False
    dsn: bool = False  # an RFC 3464 report (structured recipients)
    verp_delivery_id: int | None = None
    verp_signature: str = ""
    verp_base: str = ""
    bounce: BounceReport | None = None  # a bounce's recipients, status codes, permanence

    @property
    def signature_verified(self) -> bool:
        """True only when the S/MIME signature was checked and holds."""
        return self.signature_status == "verified"


def strip_id(value: str | None) -> str:
    """A Message-ID without angle brackets and blanks."""
    value = (value or "").strip()
    match = _MSGID.search(value)
    if match:
        value = match.group(0)
    return value.strip().strip("<>").strip()


def _address(value: str) -> str:
    """The bare address of a From/To value, lower case."""
    return parseaddr(value)[1].strip().lower()


def _to_utc(moment: datetime | None) -> datetime | None:
    """Aware → naive UTC (naive values are taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _date_header(msg: Message, name: str = "Date") -> datetime | None:
    """A date header as naive UTC, or None."""
    raw = _header(msg, name)
    if not raw:
        return None
    try:
        return _to_utc(parsedate_to_datetime(raw))
    except (TypeError, ValueError, IndexError):
        return None


def _filename(part: Message) -> str:
    """Attachment file name, lower case, or ''."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001
        return ""
    return str(name).strip().lower()


def _text(part: Message) -> str:
    """Decoded text of a text part ('' when it cannot be decoded)."""
    try:
        data = decoded_payload(part)
    except Exception:  # noqa: BLE001 - a broken transfer encoding makes the part unreadable, not the message
        return ""
    if data is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("latin-1", "replace")


# ---------------------------------------------------------------- S/MIME


def verify_signature(raw: bytes, msg: Message, timeout: float = 20.0) -> str:
    """'verified' when the S/MIME signature holds over the content, 'failed' when it does not (or
    cannot be read), 'unsigned' when the message carries none. The signer's chain is not checked
    (openssl -noverify): this proves integrity, not that the provider is on the AgID list."""
    content_type = msg.get_content_type()
    signed = content_type == "multipart/signed" or (
        content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime")
        and "signed" in (msg.get_param("smime-type") or "signed")
    )
    if not signed:
        return "unsigned"
    binary = shutil.which("openssl")
    if binary is None:
        return "failed"
    try:
        result = subprocess.run(
            [binary, "smime", "-verify", "-noverify", "-out", "/dev/null"],
            input=raw,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "failed"
    return "verified" if result.returncode == 0 else "failed"


# ---------------------------------------------------------------- PEC


def _local(tag: str) -> str:
    """Element name without namespace."""
    return tag.rsplit("}", 1)[-1]


def parse_daticert(data: bytes) -> dict:
    """The fields of a daticert.xml (safe parser); raises ValueError when it is not one."""
    if len(data) > MAX_DATICERT:
        raise ValueError("daticert.xml troppo grande")
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:
        # Tolerate junk around the document (seen in the wild): retry with the <postacert> element alone.
        match = re.search(rb"<postacert\b.*</postacert\s*>", data, re.DOTALL)
        if not match:
            raise ValueError(f"daticert.xml non leggibile: {exc}") from exc
        try:
            root = SafeET.fromstring(match.group(0))
        except Exception as exc2:
            raise ValueError(f"daticert.xml non leggibile: {exc2}") from exc2
    if _local(root.tag) != "postacert":
        raise ValueError("daticert.xml senza elemento postacert")

    def find(path: str):
        node = root
        for step in path.split("/"):
            node = next((child for child in node if _local(child.tag) == step), None)
            if node is None:
                return None
        return node

    def text(path: str) -> str:
        node = find(path)
        return (node.text or "").strip() if node is not None else ""

    data_node = find("dati/data")
    moment = None
    if data_node is not None:
        day, hour, zone = (
            text("dati/data/giorno"),
            text("dati/data/ora"),
            (data_node.get("zona") or "").strip(),
        )
        try:
            # Wall-clock time in the notification's own «zona», turned into naive UTC just below.
            moment = datetime.strptime(f"{day} {hour}", "%d/%m/%Y %H:%M:%S")  # noqa: DTZ007
            zone_match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", zone)
            if zone_match:
                offset = timedelta(hours=int(zone_match.group(2)), minutes=int(zone_match.group(3)))
                moment = moment - offset if zone_match.group(1) == "+" else moment + offset
        except ValueError:
            moment = None
    intestazione = find("intestazione")
    recipients = []
    if intestazione is not None:
        recipients = [(c.text or "").strip().lower() for c in intestazione if _local(c.tag) == "destinatari"]
    dati = find("dati")
    consegna = (
        [(c.text or "").strip().lower() for c in dati if _local(c.tag) == "consegna"]
        if dati is not None
        else []
    )
    ricevuta = find("dati/ricevuta")
    return {
        "tipo": (root.get("tipo") or "").strip(),
        "errore": (root.get("errore") or "").strip(),
        "mittente": text("intestazione/mittente").lower(),
        "destinatari": recipients,
        "oggetto": text("intestazione/oggetto"),
        "gestore": text("dati/gestore-emittente"),
        "data": moment,
        "identificativo": text("dati/identificativo"),
        "msgid": strip_id(text("dati/msgid")),
        "ricevuta": (ricevuta.get("tipo") or "").strip() if ricevuta is not None else "",
        "consegna": consegna,
        "errore_esteso": text("dati/errore-esteso"),
    }


def _daticert_part(msg: Message) -> Message | None:
    """The daticert.xml part of a PEC message (not the one of an attached message)."""
    for part in _parts(msg):
        if _filename(part) == "daticert.xml":
            return part
    return None


def _read_pec(msg: Message, result: InboundMessage) -> None:
    """Fill a PEC receipt from its headers and daticert.xml, noting every inconsistency."""
    header_type = _header(msg, "X-Ricevuta").lower()
    header_ref = strip_id(_header(msg, "X-Riferimento-Message-ID"))
    part = _daticert_part(msg)
    dati = None
    if part is None:
        result.problems.append("la ricevuta non contiene daticert.xml")
        result.malformed = True
    else:
        try:
            dati = parse_daticert(decoded_payload(part) or b"")
        except ValueError as exc:
            result.problems.append(str(exc))
            result.malformed = True
    result.daticert = dati
    result.receipt_type = header_type or (dati or {}).get("tipo", "")
    result.referenced_message_id = header_ref or (dati or {}).get("msgid", "")
    if result.receipt_type not in PEC_TYPES:
        result.problems.append(f"tipo di ricevuta sconosciuto: «{result.receipt_type}»")
    if dati is not None:
        if header_type and dati["tipo"] and dati["tipo"] != header_type:
            result.problems.append(
                f"daticert.xml dice «{dati['tipo']}», l'intestazione X-Ricevuta «{header_type}»"
            )
        if header_ref and dati["msgid"] and dati["msgid"] != header_ref:
            result.problems.append("il msgid di daticert.xml non coincide con X-Riferimento-Message-ID")
        if not dati["msgid"] and not header_ref:
            result.problems.append("la ricevuta non dice a quale messaggio si riferisce")
        result.event_at = dati["data"]
        result.recipients = dati["consegna"]
        if dati["errore_esteso"]:
            result.reason = dati["errore_esteso"]
        elif dati["errore"] and dati["errore"] != "nessuno":
            result.reason = f"errore: {dati['errore']}"
    if not result.referenced_message_id:
        result.problems.append("la ricevuta non dice a quale messaggio si riferisce")
    local = result.sender.split("@", 1)[0]
    if local != PEC_SENDER_LOCAL:
        result.problems.append(
            f"mittente «{result.sender}» non è un gestore PEC (le ricevute arrivano da {PEC_SENDER_LOCAL}@…)"
        )
    result.event_at = result.event_at or _date_header(msg)
    result.problems = list(dict.fromkeys(result.problems))


# ---------------------------------------------------------------- bounces


def _original_headers(msg: Message) -> Message | None:
    """Headers of the returned original message (message/rfc822 or text/rfc822-headers part)."""
    for part in _parts(msg):
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return email.message_from_string(payload, policy=email.policy.compat32)
        if content_type in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
            return email.message_from_string(_text(part), policy=email.policy.compat32)
    return None


def _all_text(msg: Message) -> str:
    """Every text/plain part (and text/html stripped of tags when there is no plain text), joined."""
    plain, html = [], []
    for part in _parts(msg):
        if part.get_content_type() == "text/plain":
            plain.append(_text(part))
        elif part.get_content_type() == "text/html":
            html.append(re.sub(r"<[^>]+>", " ", _text(part)))
    return "\n".join(plain or html)


def _read_bounce(msg: Message, text: str, result: InboundMessage) -> None:
    """A bounce (see bounces.py): kind, permanent/temporary, the recipients with their status, the reason."""
    why_not = not_a_bounce(msg)
    if why_not:
        result.notes.append(why_not)
        return
    report = read_bounce(msg, text)
    if report is None:
        if status_blocks(msg) is not None:
            result.notes.append("notifica di stato senza errori (consegnato o inoltrato)")
        return
    result.kind = "bounce"
    result.bounce = report
    result.dsn = report.dsn
    result.receipt_type = "permanent" if report.permanent else "temporary"
    result.reason = report.reason or result.subject
    result.recipients = [r.address for r in report.recipients]
    if report.last_attempt:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            result.event_at = _to_utc(parsedate_to_datetime(report.last_attempt))
    if not report.recipients:
        result.notes.append("il rimbalzo non nomina il destinatario")


def _read_verp(msg: Message, result: InboundMessage) -> None:
    """A per-delivery return path (`from+rcp<ID>-<sig>@domain`) in the bounce's recipient headers."""
    for name in ("X-Original-To", "Delivered-To", "To", "Envelope-To"):
        for _, address in getaddresses([_header(msg, name)]):
            match = _VERP.match(address.strip())
            if match:
                result.verp_delivery_id = int(match.group("id"))
                result.verp_signature = match.group("sig").lower()
                result.verp_base = f"{match.group('local')}@{match.group('domain')}".lower()
                return


# ---------------------------------------------------------------- entry point


def read_message(raw: bytes, check_signature: bool = True) -> InboundMessage:
    """Classify a received message and extract what it says; never raises on bad input."""
    result = InboundMessage()
    if not raw or not raw.strip():
        result.malformed = True
        result.problems.append("messaggio vuoto")
        return result
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient, but be safe
        result.malformed = True
        result.problems.append(f"messaggio non leggibile: {exc}")
        return result
    if not msg.keys():
        result.malformed = True
        result.problems.append("messaggio senza intestazioni")
        return result
    try:
        _classify(raw, msg, result, check_signature)
    except Exception as exc:  # noqa: BLE001 - hostile input must not stop the mailbox reading
        result.malformed = True
        result.problems.append(f"messaggio non interpretabile: {type(exc).__name__}: {exc}"[:500])
    return result


def _classify(raw: bytes, msg: Message, result: InboundMessage, check_signature: bool) -> None:
    """Fill `result` from a parsed message."""
    result.message_id = strip_id(_header(msg, "Message-ID"))
    result.sender = _address(_header(msg, "From"))
    result.to = [a.lower() for _, a in getaddresses([_header(msg, "To")]) if a]
    result.subject = " ".join(_decode_subject(_header(msg, "Subject")).split())[:500]
    if msg.defects and not msg.is_multipart() and msg.get_content_maintype() == "multipart":
        result.notes.append("struttura MIME difettosa")
    x_ricevuta = _header(msg, "X-Ricevuta")
    daticert = _daticert_part(msg) if not _header(msg, "X-Trasporto") else None
    daticert_type = ""
    if daticert is not None and not x_ricevuta:
        try:
            daticert_type = parse_daticert(decoded_payload(daticert) or b"")["tipo"]
        except ValueError:
            daticert_type = ""
    if x_ricevuta or daticert_type in PEC_TYPES:
        result.kind = "pec-receipt"
        if check_signature:
            result.signature_status = verify_signature(raw, msg)
        _read_pec(msg, result)
        return
    if check_signature:
        result.signature_status = verify_signature(raw, msg)
    if _header(msg, "X-Trasporto"):
        result.notes.append(
            f"busta PEC di tipo «{_header(msg, 'X-Trasporto')}»: un messaggio in arrivo, non una ricevuta"
        )
        return
    text = _all_text(msg)
    _read_bounce(msg, text, result)
    if result.kind != "bounce":
        return  # a report of success, an auto-reply, a read receipt, or no bounce at all
    original = _original_headers(msg)
    if original is not None:
        result.referenced_message_id = strip_id(_header(original, "Message-ID"))
    if not result.referenced_message_id:
        own = result.message_id
        found = [strip_id(m) for m in _BODY_MSGID.findall(text) if strip_id(m) != own]
        result.referenced_message_id = found[0] if found else ""
    _read_verp(msg, result)
    result.event_at = result.event_at or _date_header(msg)
    if not result.referenced_message_id and result.verp_delivery_id is None:
        result.notes.append("il rimbalzo non riporta il Message-ID del messaggio originale")


def _decode_subject(value: str) -> str:
    """Decode RFC 2047 words of a subject."""
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001
        return value
