"""TLS for SMTP and IMAP clients: verified contexts (system store plus an account's own CA bundle),
certificate summaries and Italian explanations of certificate errors.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID


class InvalidCaBundle(ValueError):
    """A CA bundle that is not PEM certificates (message in Italian)."""


def parse_ca_bundle(pem: str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; InvalidCaBundle when it holds none or something else."""
    text = (pem or "").strip()
    if not text:
        return []
    if "PRIVATE KEY" in text:
        raise InvalidCaBundle(
            "Il file contiene una chiave privata: serve solo il certificato della CA (PEM)."
        )
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidCaBundle(
            "Non è un certificato PEM valido (atteso «-----BEGIN CERTIFICATE-----»)."
        ) from exc
    return certs


def client_context(ca_pem: str = "", ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context: the system's CAs plus the account's own (PEM text) and/or a file."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if (ca_pem or "").strip():
        context.load_verify_locations(cadata=ca_pem)
    return context


def _common_name(name: x509.Name) -> str:
    """CN of a name, or the whole name."""
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


@dataclass
class CertificateInfo:
    """What an administrator needs to know about a server certificate."""

    subject: str
    issuer: str
    names: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool

    def describe(self) -> str:
        """One Italian line: subject, names, issuer, validity."""
        names = ", ".join(self.names) or self.subject
        return (
            f"certificato di «{self.subject}» (nomi: {names}), emesso da «{self.issuer}», "
            f"valido dal {self.not_before:%d/%m/%Y} al {self.not_after:%d/%m/%Y}"
        )


def certificate_info(der: bytes) -> CertificateInfo:
    """Parse a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return CertificateInfo(
        subject=_common_name(cert.subject),
        issuer=_common_name(cert.issuer),
        names=names,
        not_before=cert.not_valid_before_utc.replace(tzinfo=None),
        not_after=cert.not_valid_after_utc.replace(tzinfo=None),
        self_signed=cert.subject == cert.issuer,
    )


def peer_certificate(sock) -> CertificateInfo | None:
    """The certificate a TLS socket received (None without one)."""
    der = sock.getpeercert(binary_form=True) if hasattr(sock, "getpeercert") else None
    return certificate_info(der) if der else None


def fetch_certificate(host: str, port: int, tls_mode: str, timeout: float = 8.0) -> CertificateInfo | None:
    """The server's certificate WITHOUT verifying it: only to explain why verification failed."""
    import smtplib

    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    try:
        if tls_mode == "starttls":
            with smtplib.SMTP(host, port, timeout=timeout) as conn:
                conn.ehlo()
                conn.starttls(context=insecure)
                return peer_certificate(conn.sock)
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            insecure.wrap_socket(raw, server_hostname=host) as sock,
        ):
            return peer_certificate(sock)
    except (OSError, smtplib.SMTPException, ValueError):
        return None


def explain_certificate_error(
    exc: ssl.SSLCertVerificationError, host: str, cert: CertificateInfo | None
) -> str:
    """An Italian explanation of a failed verification: what the certificate says and what to do."""
    code = getattr(exc, "verify_code", None)
    message = (getattr(exc, "verify_message", None) or str(exc)).lower()
    about = (" Il server presenta un " + cert.describe() + ".") if cert else ""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive UTC, like CertificateInfo
    if code == 62 or "hostname mismatch" in message or "ip address mismatch" in message:
        names = ", ".join(cert.names) if cert and cert.names else (cert.subject if cert else "?")
        return (
            f"Il certificato non è intestato a «{host}» ma a: {names}.{about} "
            "Usa come server uno dei nomi del certificato, oppure chiedi al gestore un certificato per "
            f"«{host}»."
        )
    if code == 10 or "expired" in message or (cert and cert.not_after < now):
        until = f" il {cert.not_after:%d/%m/%Y}" if cert else ""
        return (
            f"Il certificato del server è scaduto{until}.{about} Il gestore del server deve rinnovarlo; "
            "finché non lo fa la connessione non è sicura e non viene usata."
        )
    if code == 9 or "not yet valid" in message:
        return (
            f"Il certificato del server non è ancora valido.{about} "
            "Controlla l'orologio di questo server e di quello di posta."
        )
    if (
        code in (18, 19, 20, 21)
        or "self-signed" in message
        or "self signed" in message
        or "unable to get local issuer" in message
    ):
        kind = "autofirmato" if cert and cert.self_signed else "firmato da un'autorità non riconosciuta"
        return (
            f"Il certificato del server è {kind}.{about} Se il server è interno (on-premises), carica "
            "nell'account il certificato della sua autorità (CA, formato PEM) alla voce «Certificati CA "
            "aggiuntivi»; altrimenti chiedi al gestore un certificato rilasciato da un'autorità pubblica."
        )
    return f"Certificato TLS non valido ({getattr(exc, 'verify_message', None) or exc}).{about}"
