"""A throw-away PEC provider for the tests: a root CA, the provider's signing certificate issued by it,
and S/MIME-signed receipts made with cryptography's PKCS#7 builder (what a real provider sends)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID


@dataclass
class Signer:
    """A certificate with its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        """The certificate in DER."""
        return self.cert.public_bytes(serialization.Encoding.DER)


def _name(common_name: str, org: str) -> x509.Name:
    """A subject/issuer name."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str = "Gestore di prova Root CA",
    org: str = "Gestore di prova S.p.A.",
    not_before: datetime | None = None,
    days: int = 3650,
) -> Signer:
    """A self-signed root CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.now(UTC) - timedelta(days=365)
    name = _name(common_name, org)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Signer(cert, key)


def make_signer(
    ca: Signer,
    common_name: str = "posta-certificata@pec.gestore.example",
    org: str = "Gestore di prova S.p.A.",
    not_before: datetime | None = None,
    days: int = 730,
) -> Signer:
    """The provider's signing certificate, issued by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.now(UTC) - timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, org))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(common_name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Signer(cert, key)


def sign_mime(inner: bytes, signer: Signer) -> bytes:
    """`inner` (a MIME entity) as a detached S/MIME multipart/signed entity signed by `signer`."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(inner)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )


def daticert(
    message_id: str,
    tipo: str = "avvenuta-consegna",
    consegna: str = "ok@pec.cliente.example",
    mittente: str = "azienda@pec.example",
    when: datetime | None = None,
    identificativo: str = "opec210.20261130100000.12345.01.1.1@pec.gestore.example",
    errore: str = "nessuno",
    errore_esteso: str = "",
) -> str:
    """A daticert.xml as providers write it (DM 2/11/2005 schema)."""
    when = when or datetime(2026, 11, 30, 10, 0, 0)
    bare = message_id.strip("<>")
    extra = f"<errore-esteso>{errore_esteso}</errore-esteso>" if errore_esteso else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<postacert tipo="{tipo}" errore="{errore}">'
        f'<intestazione><mittente>{mittente}</mittente><destinatari tipo="certificato">{consegna}</destinatari>'
        f"<risposte>{mittente}</risposte><oggetto>Fattura n. 1</oggetto></intestazione>"
        f"<dati><gestore-emittente>Gestore di prova S.p.A.</gestore-emittente>"
        f'<data zona="+0100"><giorno>{when:%d/%m/%Y}</giorno><ora>{when:%H:%M:%S}</ora></data>'
        f"<identificativo>{identificativo}</identificativo><msgid>&lt;{bare}&gt;</msgid>"
        f'<ricevuta tipo="completa"/><consegna>{consegna}</consegna>{extra}</dati></postacert>'
    )


def receipt_inner(message_id: str, **daticert_args) -> bytes:
    """The signed content of a receipt: text body and daticert.xml."""
    inner = EmailMessage(policy=email.policy.SMTP)
    inner.set_content("Ricevuta di avvenuta consegna\r\nIl messaggio e' stato consegnato.\r\n")
    inner.add_attachment(
        daticert(message_id, **daticert_args).encode(),
        maintype="application",
        subtype="xml",
        filename="daticert.xml",
    )
    return inner.as_bytes()


def signed_receipt(
    message_id: str,
    signer: Signer,
    sender: str = "posta-certificata@pec.gestore.example",
    x_ricevuta: str = "avvenuta-consegna",
    inner: bytes | None = None,
    **daticert_args,
) -> bytes:
    """A complete PEC receipt: outer headers + S/MIME signature by `signer` over text + daticert.xml."""
    daticert_args.setdefault("tipo", x_ricevuta)
    signed = sign_mime(inner if inner is not None else receipt_inner(message_id, **daticert_args), signer)
    bare = message_id.strip("<>")
    headers = (
        f"Return-Path: <{sender}>\r\nFrom: {sender}\r\nTo: azienda@pec.example\r\n"
        f"Subject: CONSEGNA: Fattura n. 1\r\nDate: Mon, 30 Nov 2026 10:00:01 +0100\r\n"
        f"Message-ID: <opec.{abs(hash((bare, x_ricevuta, sender)))}@pec.gestore.example>\r\n"
        f"X-Ricevuta: {x_ricevuta}\r\nX-Riferimento-Message-ID: <{bare}>\r\n"
    )
    return headers.encode() + signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def replace_signature(raw: bytes, other: bytes) -> bytes:
    """`raw` with the PKCS#7 signature part of `other` (a signature made over different content)."""

    def sig(data: bytes) -> bytes:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        return msg.get_payload()[1].get_payload().encode()

    return raw.replace(sig(raw), sig(other))
