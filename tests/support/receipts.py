"""Messages that come back, for the tracking tests: the real PEC samples adapted to our own
Message-IDs, RFC 3464 and non-standard bounces, malformed and forged messages."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import UTC
from email.message import EmailMessage
from pathlib import Path

OCA_ACCETTAZIONE = "ACCETTAZIONE_ IT03339130126_00009.xml.txt"
OCA_CONSEGNA = "CONSEGNA_ IT03339130126_00009.xml.txt"
OCA_ENVELOPE = "POSTA CERTIFICATA_ Ricevuta di consegna 6782414.txt"
GOPEC_ACCETTAZIONE = "accettazione.eml"
GOPEC_ERRORE = "consegna.eml"


def _daticert_b64(raw: bytes) -> bytes:
    """The base64 body of the daticert.xml part exactly as it stands in the message."""
    start = raw.index(b'filename="daticert.xml"')
    body_start = re.compile(rb"\r?\n\r?\n").search(raw, start).end()
    body_end = raw.index(b"\n--", body_start)
    return raw[body_start:body_end]


def daticert_of(raw: bytes) -> str:
    """The daticert.xml text of a receipt."""
    return base64.b64decode(_daticert_b64(raw)).decode("utf-8")


def adapt_receipt(
    raw: bytes,
    message_id: str,
    *,
    consegna: str | None = None,
    mittente: str | None = None,
    header_id: str | None = None,
    tipo: str | None = None,
    x_ricevuta: str | None = None,
    errore_esteso: str | None = None,
) -> bytes:
    """A real receipt pointed at our own message: X-Riferimento-Message-ID and the daticert msgid
    rewritten (the rest byte for byte, so the provider's signature no longer holds)."""
    bare = message_id.strip("<>")
    header_value = (header_id or bare).strip("<>")
    raw = re.sub(
        rb"(?m)^X-Riferimento-Message-ID:[^\r\n]*",
        b"X-Riferimento-Message-ID: <" + header_value.encode() + b">",
        raw,
        count=1,
    )
    if x_ricevuta is not None:
        raw = re.sub(rb"(?m)^X-Ricevuta:[^\r\n]*", b"X-Ricevuta: " + x_ricevuta.encode(), raw, count=1)
    old_b64 = _daticert_b64(raw)
    xml = base64.b64decode(old_b64).decode("utf-8")
    xml = re.sub(r"<msgid>.*?</msgid>", f"<msgid>&lt;{bare}&gt;</msgid>", xml, count=1, flags=re.DOTALL)
    if consegna is not None:
        xml = re.sub(r"<consegna>.*?</consegna>", f"<consegna>{consegna}</consegna>", xml, flags=re.DOTALL)
    if mittente is not None:
        xml = re.sub(
            r"<mittente>.*?</mittente>", f"<mittente>{mittente}</mittente>", xml, count=1, flags=re.DOTALL
        )
    if tipo is not None:
        xml = re.sub(r'<postacert tipo="[^"]*"', f'<postacert tipo="{tipo}"', xml, count=1)
    if errore_esteso is not None:
        xml = re.sub(
            r"<errore-esteso>.*?</errore-esteso>",
            f"<errore-esteso>{errore_esteso}</errore-esteso>",
            xml,
            flags=re.DOTALL,
        )
    newline = b"\r\n" if b"\r\n" in old_b64 else b"\n"
    encoded = base64.b64encode(xml.encode("utf-8"))
    new_b64 = newline.join(encoded[i : i + 60] for i in range(0, len(encoded), 60))
    return raw.replace(old_b64, new_b64, 1)


def sample(samples_dir: Path, name: str) -> bytes:
    """A PEC sample's bytes."""
    return (samples_dir / "pec" / name).read_bytes()


def test_provider():
    """The test PEC provider of this test session: (CA to trust, signing certificate)."""
    global _PROVIDER
    if _PROVIDER is None:
        from datetime import datetime

        from tests.support.pec_ca import make_ca, make_signer

        # Valid at the times the real samples certify (2018, 2024) and today.
        since = datetime(2015, 1, 1, tzinfo=UTC)
        ca = make_ca(not_before=since, days=365 * 30)
        _PROVIDER = (
            ca,
            make_signer(ca, common_name="posta-certificata@pec.aruba.it", not_before=since, days=365 * 20),
        )
    return _PROVIDER


_PROVIDER = None


def resign(raw: bytes, workdir: Path | None = None) -> bytes:
    """Sign a receipt's content again with the test provider's certificate (tests.support.pec_ca): its
    signature then holds, as a genuine provider's does, and chains to the test CA (trust it with
    `trust_test_provider()`)."""
    from tests.support.pec_ca import sign_mime

    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    inner = msg.get_payload()[0].as_bytes()
    signed = sign_mime(inner, test_provider()[1])
    headers = b"".join(
        f"{k}: {v}\n".encode() for k, v in msg.items() if k.lower() not in ("content-type", "mime-version")
    )
    return headers + signed


def trust_test_provider(*domains: str) -> None:
    """Put the test CA in the trust store; give every PEC account these provider domains."""
    from mailer.extensions import db
    from mailer.models import MailAccount
    from mailer.services.pec_trust import add_certificates

    add_certificates(test_provider()[0].pem)
    for account in db.session.scalars(db.select(MailAccount).where(MailAccount.kind == "pec")):
        account.pec_system_domains = "\n".join(domains)
    db.session.commit()


def dsn_bounce(
    original_message_id: str,
    recipient: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    action: str = "failed",
    sender: str = "MAILER-DAEMON@mx.example.net",
) -> bytes:
    """An RFC 3464 delivery status notification (Postfix style) returning the original headers."""
    boundary = "BOUNDARY-DSN-1"
    diag = diagnostic.format(rcpt=recipient)
    return (
        f"Return-Path: <>\r\nFrom: Mail Delivery System <{sender}>\r\nTo: fatture@azienda.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: Mon, 30 Nov 2026 10:15:00 +0100\r\n"
        f"Message-ID: <dsn.{abs(hash(original_message_id))}@mx.example.net>\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"This is the mail system at host mx.example.net.\r\n\r\nI'm sorry to have to inform you that your message"
        f" could not\r\nbe delivered to one or more recipients.\r\n\r\n<{recipient}>: {diag}\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 30 Nov 2026 10:14:58 +0100\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\nAction: {action}\r\n"
        f"Status: {status}\r\nRemote-MTA: dns; mx.example.net\r\nDiagnostic-Code: {diag}\r\n"
        f"Last-Attempt-Date: Mon, 30 Nov 2026 10:15:00 +0100\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Azienda di prova <fatture@azienda.example>\r\nTo: {recipient}\r\nSubject: Fattura\r\n"
        f"Message-ID: {original_message_id}\r\nDate: Mon, 30 Nov 2026 10:14:50 +0100\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def qmail_bounce(original_message_id: str, recipient: str) -> bytes:
    """A qmail 'failure notice' with the original message quoted after the marker line."""
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.org\r\nTo: fatture@azienda.example\r\n"
        "Subject: failure notice\r\nDate: 30 Nov 2026 09:20:01 -0000\r\nMessage-ID: <qm.1@mail.example.org>\r\n\r\n"
        "Hi. This is the qmail-send program at mail.example.org.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        f"<{recipient}>:\r\n192.0.2.7 does not like recipient.\r\n"
        "Remote host said: 550 5.1.1 mailbox unavailable\r\nGiving up on 192.0.2.7.\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        "Return-Path: <fatture@azienda.example>\r\nFrom: Azienda di prova <fatture@azienda.example>\r\n"
        f"To: {recipient}\r\nSubject: Fattura\r\nMessage-ID: {original_message_id}\r\n\r\nIn allegato la fattura.\r\n"
    ).encode()


def exchange_ndr(original_message_id: str, recipient: str) -> bytes:
    """An Exchange non-delivery report as plain text, with the original attached as message/rfc822."""
    msg = EmailMessage()
    msg["From"] = "postmaster@contoso.example"
    msg["To"] = "fatture@azienda.example"
    msg["Subject"] = "Undeliverable: Fattura"
    msg["Date"] = "Mon, 30 Nov 2026 10:30:00 +0100"
    msg["Message-ID"] = "<ndr.1@contoso.example>"
    msg.set_content(
        "Delivery has failed to these recipients or groups:\n\n"
        f"{recipient}\nThe e-mail address you entered couldn't be found.\n\n"
        "Diagnostic information for administrators:\n\nGenerating server: mail.contoso.example\n\n"
        f"{recipient}\nRemote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n"
    )
    original = EmailMessage()
    original["From"] = "fatture@azienda.example"
    original["To"] = recipient
    original["Subject"] = "Fattura"
    original["Message-ID"] = original_message_id
    original.set_content("In allegato la fattura.")
    msg.add_attachment(original)
    return msg.as_bytes()


def forged_receipt(message_id: str, sender: str = "mario.rossi@gmail.example") -> bytes:
    """An X-Ricevuta message from someone who is not a PEC provider (the rest looks right)."""
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><postacert tipo="avvenuta-consegna" errore="nessuno">'
        f"<intestazione><mittente>azienda@pec.example</mittente></intestazione><dati>"
        f'<data zona="+0100"><giorno>30/11/2026</giorno><ora>10:00:00</ora></data>'
        f"<msgid>&lt;{message_id.strip('<>')}&gt;</msgid><consegna>x@pec.example</consegna></dati></postacert>"
    )
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "azienda@pec.example"
    msg["Subject"] = "CONSEGNA: Fattura"
    msg["X-Ricevuta"] = "avvenuta-consegna"
    msg["X-Riferimento-Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    msg.set_content("Ricevuta di consegna")
    msg.add_attachment(xml.encode(), maintype="application", subtype="xml", filename="daticert.xml")
    return msg.as_bytes()


MALFORMED = [
    b"",
    b"\x00\x01\x02 not a message at all \xff\xfe",
    b'X-Ricevuta: accettazione\r\nFrom: posta-certificata@pec.example\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: application/xml; name="daticert.xml"\r\nContent-Disposition: attachment; filename="daticert.xml"\r\n\r\n<postacert tipo="accettazione"><dati><msgid>&lt;a@b&gt;</msgid>\r\n--x--\r\n',
    b'X-Ricevuta: accettazione\r\nFrom: posta-certificata@pec.example\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: application/xml; name="daticert.xml"\r\nContent-Disposition: attachment; filename="daticert.xml"\r\n\r\n<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><postacert tipo="accettazione"><dati><msgid>&b;</msgid></dati></postacert>\r\n--x--\r\n',
]
