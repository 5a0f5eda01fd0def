"""Certificates from a private test CA and a loopback SMTP server speaking TLS with them.

Usage in a test module:

    from tests.support.tls import TestCA, tls_smtp  # noqa: F401

    def test_x(tls_smtp):
        server = tls_smtp(mode="ssl", cert="good")   # or "wrong-name", "expired"; mode "starttls"
        ... account.tls_ca_pem = server.ca.pem ...

Authentication: user 'mittente', password 'segreta-123' (PLAIN/LOGIN over TLS).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .smtp import SmtpTestServer

USER, PASSWORD = "mittente", "segreta-123"


class TestCA:
    """A private certificate authority that issues server certificates."""

    __test__ = False

    def __init__(self, name: str = "Recapito Test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def issue(self, names: list[str], expired: bool = False) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for these DNS names / IP addresses."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (
            (now - dt.timedelta(days=60), now - dt.timedelta(days=30))
            if expired
            else (now - dt.timedelta(days=1), now + dt.timedelta(days=10))
        )
        alt = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(alt), False)
            .sign(self.key, hashes.SHA256())
        )
        return (
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )

    def server_context(self, names: list[str], expired: bool = False) -> ssl.SSLContext:
        """A server-side SSL context with a certificate for `names`."""
        cert, key = self.issue(names, expired)
        folder = Path(tempfile.mkdtemp(prefix="recapito-tls-"))
        (folder / "cert.pem").write_bytes(cert)
        (folder / "key.pem").write_bytes(key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        return context


CERTS = {
    "good": (["127.0.0.1", "localhost"], False),
    "wrong-name": (["mail.altrove.example"], False),
    "expired": (["127.0.0.1", "localhost"], True),
}


class TlsSmtpServer(SmtpTestServer):
    """The loopback test SMTP server with implicit TLS ("ssl") or STARTTLS, certificate from a test CA."""

    def __init__(self, ca: TestCA, mode: str = "ssl", cert: str = "good"):
        super().__init__(auth={USER: PASSWORD})
        self.ca, self.mode = ca, mode
        names, expired = CERTS[cert]
        self.context = ca.server_context(names, expired)

    def start(self) -> TlsSmtpServer:
        """Listen with TLS (the readiness probe of aiosmtpd is skipped: it cannot verify our CA)."""
        from aiosmtpd.controller import Controller

        from .smtp import _Handler

        kwargs = {"authenticator": self._authenticator, "auth_require_tls": False, "auth_required": True}
        if self.mode == "ssl":
            kwargs["ssl_context"] = self.context
        else:
            kwargs.update(tls_context=self.context, require_starttls=True)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test.local",
            ready_timeout=10,
            **kwargs,
        )
        self._controller.start()
        return self


@pytest.fixture
def test_ca() -> TestCA:
    """A fresh private CA."""
    return TestCA()


@pytest.fixture
def tls_smtp(test_ca):
    """Factory: tls_smtp(mode="ssl"|"starttls", cert="good"|"wrong-name"|"expired") -> running server."""
    servers: list[TlsSmtpServer] = []

    def start(mode: str = "ssl", cert: str = "good") -> TlsSmtpServer:
        server = TlsSmtpServer(test_ca, mode, cert).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
