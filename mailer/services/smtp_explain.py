"""SMTP replies in words: what a server's refusal means and what the office can do about it.

One place turns a reply such as «550 5.1.1 … User unknown» or «452 4.2.2 Mailbox full» into a sentence
in Italian for the results page and the document page; the reply itself stays available as the
technical detail. The enhanced status code (RFC 3463) decides when the text does not say more; the
words of the reply come first because servers disagree on codes (Exim says «no mailbox here by that
name (#5.7.17)», Outlook «550 5.5.0 … mailbox unavailable» for an unknown address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..formatting import to_local

ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
BASIC_RE = re.compile(r"^\s*([245]\d\d)(?:[ -]|$)")


@dataclass(frozen=True)
class Explanation:
    """What a reply means («meaning»), what to do («action»), and whether fixing the address helps."""

    meaning: str
    action: str
    permanent: bool
    fix_contact: bool = False


# The address ---------------------------------------------------------------------------------------
_RETRY_LATER = "Non serve correggere nulla: il messaggio viene ritentato da solo; se resta fallito, usa «Ritenta i falliti» più tardi."
UNKNOWN_MAILBOX = Explanation(
    "L'indirizzo non esiste sul server del destinatario: casella inesistente, chiusa o scritta male.",
    "Controlla l'indirizzo del contatto (refusi, dominio) o chiedine uno valido al cliente, poi ritenta.",
    True,
    True,
)
UNKNOWN_DOMAIN = Explanation(
    "Il dominio dell'indirizzo (la parte dopo la @) non esiste o non riceve posta.",
    "Correggi il dominio nell'indirizzo del contatto, poi ritenta.",
    True,
    True,
)
BAD_ADDRESS = Explanation(
    "Il server non accetta l'indirizzo così come è scritto.",
    "Correggi l'indirizzo del contatto (spazi, caratteri non ammessi), poi ritenta.",
    True,
    True,
)
DISABLED_MAILBOX = Explanation(
    "La casella esiste ma è disattivata: spesso la persona non lavora più lì.",
    "Chiedi al cliente un altro indirizzo e aggiorna il contatto, poi ritenta.",
    True,
    True,
)
MAILBOX_FULL = Explanation(
    "La casella del destinatario è piena.",
    "Avvisa il destinatario (per telefono) di liberare spazio, poi ritenta; oppure usa un altro contatto.",
    True,
)
MAILBOX_FULL_TEMPORARY = Explanation(
    "La casella del destinatario è piena, per ora.",
    _RETRY_LATER + " Se continua, avvisa il destinatario di liberare spazio.",
    False,
)
TOO_BIG = Explanation(
    "Il messaggio è troppo grande per il server del destinatario.",
    "Riduci gli allegati (manda i documenti in messaggi separati) o chiedi un indirizzo che accetti messaggi più grandi.",
    True,
)
ROUTING = Explanation(
    "Il server non riesce a recapitare al dominio del destinatario (server di posta assente o configurato male).",
    "Verifica il dominio dell'indirizzo; se è giusto il problema è del destinatario: avvisalo.",
    True,
    True,
)
# Their policy, our sender -------------------------------------------------------------------------
POLICY = Explanation(
    "Il server del destinatario ha rifiutato il messaggio per le sue regole anti-spam o di accesso "
    "(mittente non autorizzato, messaggio ritenuto indesiderato, indirizzo bloccato).",
    "Non ritentare subito: chiedi all'amministratore di verificare SPF/DKIM dell'account di invio, "
    "o al destinatario di autorizzare il nostro indirizzo.",
    True,
)
AUTH = Explanation(
    "Il nostro server di invio ha rifiutato le credenziali dell'account di invio.",
    "L'amministratore deve controllare utente e password (o l'autorizzazione Microsoft/Google) dell'account.",
    True,
)
PROTOCOL = Explanation(
    "Il server ha rifiutato un comando del colloquio SMTP: è un problema tecnico, non dell'indirizzo.",
    "Segnala l'errore all'amministratore con il dettaglio tecnico.",
    True,
)
# Temporary ----------------------------------------------------------------------------------------
UNAVAILABLE = Explanation(
    "Il server del destinatario è momentaneamente non disponibile o ha chiuso la connessione (troppi messaggi in poco tempo).",
    _RETRY_LATER,
    False,
)
GREYLISTED = Explanation(
    "Il server del destinatario ha rimandato la consegna: casella momentaneamente occupata "
    "o controllo anti-spam che chiede di riprovare («greylisting»).",
    _RETRY_LATER,
    False,
)
LOCAL_ERROR = Explanation(
    "Errore temporaneo sul server del destinatario.",
    _RETRY_LATER,
    False,
)
NO_STORAGE = Explanation(
    "Il server del destinatario è momentaneamente senza spazio o ha ricevuto troppi destinatari insieme.",
    _RETRY_LATER,
    False,
)
NO_ANSWER = Explanation(
    "Il server del destinatario non risponde o non è raggiungibile.",
    _RETRY_LATER,
    False,
)
OTHER_PERMANENT = Explanation(
    "Il server del destinatario ha rifiutato definitivamente il messaggio.",
    "Leggi il dettaglio tecnico; di solito l'indirizzo non è valido: verificalo con il destinatario e ritenta.",
    True,
    True,
)
OTHER_TEMPORARY = Explanation(
    "Il server del destinatario ha rifiutato il messaggio per ora.", _RETRY_LATER, False
)

# Words that settle the meaning whatever the codes say (lower case), in this order.
_WORDS: list[tuple[tuple[str, ...], Explanation | None]] = [
    (("authentication", "autenticazione", "auth failed", "credentials"), AUTH),
    (("quota", "mailbox full", "mailbox is full", "not have enough", "casella piena"), None),
    (
        (
            "user unknown",
            "unknown user",
            "no such user",
            "no such recipient",
            "no mailbox",
            "recipnotfound",
            "recipient not found",
            "not listed in",
            "does not exist",
            "doesn't exist",
            "doesn't have a",
            "does not have a",
            "invalid recipient",
            "mailbox unavailable",
            "account that you tried to reach",
            "casella inesistente",
            "utente sconosciuto",
            "unknown recipient",
            "nonexistent user",
            "non-existent",
        ),
        UNKNOWN_MAILBOX,
    ),
    (("mailbox disabled", "account disabled", "account is disabled", "inactive"), DISABLED_MAILBOX),
    (("message size", "too large", "too big", "maximum inbound message size", "size limit"), TOO_BIG),
    (("host or domain name not found", "domain not found", "name service error", "nxdomain"), UNKNOWN_DOMAIN),
    (("greylist", "graylist", "try again later", "riprova più tardi"), GREYLISTED),
    (("spam", "unsolicited", "blocked", "blacklist", "blocklist", "spf", "dmarc", "policy"), POLICY),
    (("timed out", "no answer from host", "connection refused"), NO_ANSWER),
    (("loops back", "mail loop"), ROUTING),
]

# Enhanced status codes: (class, subject, detail) → meaning; detail None = any.
_ENHANCED: dict[tuple[str, str | None], Explanation] = {
    ("1", "1"): UNKNOWN_MAILBOX,
    ("1", "10"): UNKNOWN_DOMAIN,
    ("1", "2"): UNKNOWN_DOMAIN,
    ("1", "3"): BAD_ADDRESS,
    ("1", "0"): BAD_ADDRESS,
    ("1", "6"): UNKNOWN_MAILBOX,
    ("2", "1"): DISABLED_MAILBOX,
    ("2", "2"): MAILBOX_FULL,
    ("2", "3"): TOO_BIG,
    ("3", "4"): TOO_BIG,
    ("4", None): ROUTING,
    ("5", "3"): NO_STORAGE,
    ("5", None): PROTOCOL,
    ("7", "8"): AUTH,
    ("7", "0"): AUTH,
    ("7", None): POLICY,
}


def status_codes(code: int | None, reply: str) -> tuple[int | None, str]:
    """The basic reply code (550) and the enhanced status code («5.1.1», or '') of a reply."""
    text = reply or ""
    if code is None or code <= 0:
        found = BASIC_RE.match(text)
        code = int(found.group(1)) if found else None
    enhanced = ENHANCED_RE.search(text)
    return code, ".".join(enhanced.groups()) if enhanced else ""


def explain_reply(code: int | None, reply: str) -> Explanation | None:
    """What an SMTP reply means for the office and what to do; None for a success or nothing to say."""
    code, enhanced = status_codes(code, reply)
    if not code and not enhanced and not (reply or "").strip():
        return None
    klass = enhanced[0] if enhanced else (str(code)[0] if code else "")
    if klass == "2":
        return None
    temporary = klass == "4"
    if code == 421:  # the server is closing the connection, whatever it adds
        return UNAVAILABLE
    words = (reply or "").lower()
    for needles, meaning in _WORDS:
        if any(n in words for n in needles):
            if meaning is None:  # a full mailbox: temporary or not, as the server says
                return MAILBOX_FULL_TEMPORARY if temporary else MAILBOX_FULL
            if temporary and meaning.permanent and meaning is not AUTH:
                # «450 mailbox unavailable», «451 4.7.1 spam check»: the server asks to come back later
                return GREYLISTED if meaning in (UNKNOWN_MAILBOX, POLICY) else OTHER_TEMPORARY
            return meaning
    if enhanced:
        _, subject, detail = enhanced.split(".")
        meaning = _ENHANCED.get((subject, detail)) or _ENHANCED.get((subject, None))
        if meaning is not None and not temporary:
            return meaning
        if temporary:
            return _temporary(subject, detail, code)
    return _by_basic_code(code)


def _temporary(subject: str, detail: str, code: int | None) -> Explanation:
    """A 4.x.x enhanced code: why the server asks to try again."""
    if subject == "2" and detail == "2":
        return MAILBOX_FULL_TEMPORARY
    if subject == "4":
        return NO_ANSWER
    if subject == "7":
        return GREYLISTED
    if (subject, detail) in (("3", "1"), ("5", "3")):
        return NO_STORAGE
    if subject == "3":
        return LOCAL_ERROR
    if code is not None and 400 <= code < 500:
        return _by_basic_code(code) or OTHER_TEMPORARY
    return OTHER_TEMPORARY


BY_BASIC_CODE: dict[int, Explanation] = {
    421: UNAVAILABLE,
    450: GREYLISTED,
    451: LOCAL_ERROR,
    452: NO_STORAGE,
    530: AUTH,
    535: AUTH,
    550: OTHER_PERMANENT,
    551: UNKNOWN_MAILBOX,
    552: MAILBOX_FULL,
    553: BAD_ADDRESS,
    554: OTHER_PERMANENT,
}


def _by_basic_code(code: int | None) -> Explanation | None:
    """Only the three-digit code is known."""
    if code is None:
        return None
    if code in BY_BASIC_CODE:
        return BY_BASIC_CODE[code]
    if 500 <= code < 510:
        return PROTOCOL
    if 400 <= code < 500:
        return OTHER_TEMPORARY
    if 500 <= code < 600:
        return OTHER_PERMANENT
    return None


def technical_reply(code: int | None, reply: str) -> str:
    """The reply as the server gave it, code first («550 5.1.1 User unknown»)."""
    text = (reply or "").strip()
    if code and not text.startswith(str(code)):
        return f"{code} {text}".strip()
    return text


def sent_sentence(delivery) -> str:
    """«Inviato il 01/12/2026 alle 10:03 a Mario Rossi <m@x.it>, accettato dal server» for a sent delivery."""
    when = to_local(delivery.sent_at) if delivery.sent_at else None
    who = delivery.recipient_email or ""
    if delivery.recipient_name and delivery.recipient_name != who:
        who = f"{delivery.recipient_name} <{who}>"
    text = "Inviato"
    if when:
        text += f" il {when:%d/%m/%Y} alle {when:%H:%M}"
    if who:
        text += f" a {who}"
    return text + ", accettato dal server"
