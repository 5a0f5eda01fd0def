"""A real IMAP server for the tests: a private Dovecot on loopback, in a temporary directory.

Usage in a test module:

    from tests.support.imap import dovecot, imap_user  # noqa: F401  (fixtures)

    def test_x(imap_user):
        uid = imap_user.append(b"Subject: x\\r\\n\\r\\nhello\\r\\n")
        ... point an account at imap_user.host / imap_user.tls_port (or .port, plain) ...

The server listens on 127.0.0.1 only: plain IMAP (plaintext login allowed) on `port`, IMAPS on
`tls_port` with a self-signed certificate for 127.0.0.1 (`ca_file` makes a client trust it).
Mail lives in maildirs under the temporary directory; users are in a passwd-file, one new user per
test (`new_user()`), so tests never see each other's messages. Run as root, Dovecot refuses to run
its login and mail processes as root: they then run as the package's `dovenull`/`dovecot` users.
"""

from __future__ import annotations

import datetime as dt
import grp
import imaplib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from .services import free_port, wait_port

DOVECOT = os.environ.get("DOVECOT_BINARY", "/usr/sbin/dovecot")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1/localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


@dataclass
class ImapUser:
    """A mailbox on the test server."""

    server: DovecotServer
    username: str
    password: str

    @property
    def host(self) -> str:
        """Loopback address."""
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """Plain IMAP port."""
        return self.server.port

    @property
    def tls_port(self) -> int:
        """IMAPS port."""
        return self.server.tls_port

    def connect(self) -> imaplib.IMAP4:
        """A logged-in plain connection (for the test's own checks)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(self.username, self.password)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX", flags: str = "") -> int:
        """Put a message in a folder (created when missing); returns its UID."""
        conn = self.connect()
        try:
            conn.create(f'"{folder}"')
            status, data = conn.append(f'"{folder}"', flags or None, None, raw)
            assert status == "OK", data
            text = data[0].decode()
            return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))
        finally:
            conn.logout()

    def messages(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags of every message in a folder ({} when the folder does not exist)."""
        conn = self.connect()
        try:
            status, _ = conn.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return {}
            status, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            out = {}
            for item in data:
                if not item:
                    continue
                text = item.decode() if isinstance(item, bytes) else item[0].decode()
                if "UID" not in text:
                    continue
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                flags = text.split("FLAGS (", 1)[1].split(")", 1)[0].split() if "FLAGS (" in text else []
                out[uid] = set(flags)
            return out
        finally:
            conn.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        """UIDVALIDITY of a folder."""
        conn = self.connect()
        try:
            conn.select(f'"{folder}"', readonly=True)
            return int(conn.response("UIDVALIDITY")[1][0])
        finally:
            conn.logout()


class DovecotServer:
    """A private dovecot process: imap on `port`, imaps on `tls_port`, both on 127.0.0.1."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.passwd = workdir / "passwd"
        self.mail = workdir / "mail"
        self.ca_file = ""
        if os.geteuid() == 0:
            # Dovecot will not run its login or mail processes as root.
            self.login_user, self.internal_user = "dovenull", "dovecot"
            self.mail_uid, self.mail_gid = pwd.getpwnam("dovecot").pw_uid, pwd.getpwnam("dovecot").pw_gid
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            self.login_user = self.internal_user = me
            self.mail_uid, self.mail_gid = os.geteuid(), os.getegid()
        self.internal_group = grp.getgrgid(pwd.getpwnam(self.internal_user).pw_gid).gr_name

    def config(self, cert: Path, key: Path) -> str:
        """The dovecot.conf of this instance (nothing outside workdir)."""
        w = self.workdir
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {w}/run
state_dir = {w}/state
instance_name = recapito-test-{self.port}
default_login_user = {self.login_user}
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_group}
first_valid_uid = 1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {w}/dovecot.log
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> DovecotServer:
        """Write the configuration and run dovecot in the foreground (-F) as a child process."""
        if not os.access(DOVECOT, os.X_OK):
            raise RuntimeError(f"{DOVECOT} non trovato: esegui 'make setup' (apt-get install dovecot-imapd)")
        for sub in ("run", "state", "mail"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        os.chmod(self.mail, 0o755)
        cert, key = _self_signed(self.workdir)
        self.ca_file = str(cert)
        self.passwd.write_text("")
        conf = self.workdir / "dovecot.conf"
        conf.write_text(self.config(cert, key))
        with open(self.workdir / "dovecot.stderr", "wb") as stderr:  # the process keeps its own copy
            self.proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            wait_port(self.port, timeout=15)
            wait_port(self.tls_port, timeout=15)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"dovecot non parte: {self.log()}") from exc
        return self

    def log(self) -> str:
        """What dovecot said (for failure messages)."""
        parts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def new_user(self) -> ImapUser:
        """A new, empty mailbox (passwd-file is re-read by dovecot when it changes)."""
        name = f"u{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        home = self.mail / name
        home.mkdir()
        os.chown(home, self.mail_uid, self.mail_gid)
        with self.passwd.open("a") as fh:
            fh.write(f"{name}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}\n")
        user = ImapUser(self, name, password)
        # Dovecot re-reads the passwd-file when it changes: wait until the new user can log in.
        deadline = time.monotonic() + 5
        while True:
            try:
                user.connect().logout()
                return user
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop dovecot (SIGTERM to the master we started; it stops its own children)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def dovecot():
    """The session's private dovecot."""
    # Not under pytest's 0700 basetemp: dovecot's mail processes (another user when run as root) must reach it.
    workdir = Path(tempfile.mkdtemp(prefix="recapito-dovecot-"))
    server = DovecotServer(workdir).start()
    yield server
    server.stop()
    if not os.environ.get("RECAPITO_KEEP_DOVECOT"):
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def imap_user(dovecot) -> ImapUser:
    """A fresh mailbox for one test."""
    return dovecot.new_user()


def tls_context(server: DovecotServer) -> ssl.SSLContext:
    """A client context trusting the test server's certificate."""
    return ssl.create_default_context(cafile=server.ca_file)
