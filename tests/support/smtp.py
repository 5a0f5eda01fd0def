"""A real SMTP server on loopback (aiosmtpd) that can misbehave on purpose.

Usage in a test module:

    from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

    def test_x(smtp_server):
        smtp_server.rules["rossi@example.com"] = [451, "ok"]   # first attempt 451, then accepted
        smtp_server.rules["bianchi@example.com"] = [550]       # permanent failure
        smtp_server.rules["verdi@example.com"] = ["drop"]      # connection dropped after DATA
        smtp_server.rules["neri@example.com"] = [("slow", 2.0)]# accept after 2 s
        ... send to 127.0.0.1:smtp_server.port ...
        assert smtp_server.accepted_to("rossi@example.com") == 1

Behaviours: "ok"; an int reply code (421, 451, 452, 550, 552, 554) given at DATA time; "drop"
(close the connection after the message data arrived, without a reply); ("slow", seconds) then
accept; ("rcpt", code) reject at RCPT TO. 421 also closes the connection, as real servers do.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .services import free_port

REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    451: "451 4.3.0 Requested action aborted: local error in processing",
    452: "452 4.2.2 Insufficient system storage / mailbox full",
    550: "550 5.1.1 User unknown: mailbox unavailable",
    552: "552 5.3.4 Message size exceeds fixed maximum message size",
    554: "554 5.7.1 Transaction failed: message rejected as spam",
}


@dataclass
class Captured:
    """A message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: email.message.EmailMessage = field(repr=False)


class _Handler:
    """aiosmtpd handler applying the scripted behaviours."""

    def __init__(self, server: SmtpTestServer):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Apply ("rcpt", code) rules at RCPT TO."""
        behaviour = self.server._peek(address)
        if isinstance(behaviour, tuple) and behaviour[0] == "rcpt":
            self.server._pop(address)
            self.server._record_attempt(address, behaviour)
            return REPLIES.get(behaviour[1], f"{behaviour[1]} rejected")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Accept, fail, drop or delay according to the first recipient's next behaviour."""
        key = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        behaviour = self.server._pop(key)
        self.server._record_attempt(key, behaviour)
        self.server._record_data(key, behaviour, envelope)
        if isinstance(behaviour, tuple) and behaviour[0] == "slow":
            await asyncio.sleep(behaviour[1])
            behaviour = "ok"
        if behaviour == "drop":
            server.transport.close()
            return "250 never sent"
        if isinstance(behaviour, int):
            if behaviour == 421:
                # Real servers answer 421 and then close the connection.
                asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return REPLIES.get(behaviour, f"{behaviour} scripted failure")
        self.server._accept(envelope)
        return "250 2.0.0 OK queued"


class SmtpTestServer:
    """A loopback SMTP server with per-recipient scripted behaviours and a record of what arrived."""

    def __init__(self, port: int | None = None, auth: dict[str, str] | None = None):
        self._port_chosen = port is not None  # given, or already listened on: a restart keeps it
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.auth = auth or {}
        self.rules: dict[str, list] = {}
        self.default = "ok"
        self.messages: list[Captured] = []
        self.attempts: list[tuple[str, object]] = []
        self.data_attempts: list[tuple[str, object, email.message.Message]] = []  # every DATA, refused too
        self.connections = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        """Accept LOGIN/PLAIN with the configured users."""
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            password = auth_data.password.decode()
            return AuthResult(success=self.auth.get(user) == password, handled=False)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpTestServer:
        """Start listening."""
        kwargs = {}
        if self.auth:
            kwargs = {"authenticator": self._authenticator, "auth_require_tls": False, "auth_required": True}
        for attempt in range(5):
            self._controller = Controller(
                _Handler(self),
                hostname=self.host,
                port=self.port,
                server_hostname="smtp.test.local",
                ready_timeout=10,
                **kwargs,
            )
            try:
                self._controller.start()
                self._port_chosen = True
                return self
            except OSError:
                # Tests run in parallel (xdist): another process may have taken the free port meanwhile.
                if self._port_chosen or attempt == 4:
                    raise
                self.port = free_port()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._controller:
            self._controller.stop()
            self._controller = None

    def _peek(self, rcpt: str):
        with self._lock:
            queue = self.rules.get(rcpt.lower()) or self.rules.get(rcpt)
            return queue[0] if queue else self.default

    def _pop(self, rcpt: str):
        with self._lock:
            for key in (rcpt.lower(), rcpt):
                queue = self.rules.get(key)
                if queue:
                    return queue.pop(0)
            return self.default

    def _record_attempt(self, rcpt: str, behaviour) -> None:
        with self._lock:
            self.attempts.append((rcpt.lower(), behaviour))

    def _record_data(self, rcpt: str, behaviour, envelope) -> None:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers = email.message_from_bytes(data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        with self._lock:
            self.data_attempts.append((rcpt.lower(), behaviour, headers))

    def header_of_attempts(self, rcpt: str, name: str) -> list[str]:
        """The header `name` of every message data received for a recipient, accepted or refused."""
        with self._lock:
            return [str(m[name]) for r, _b, m in self.data_attempts if r == rcpt.lower()]

    def _accept(self, envelope) -> None:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.messages.append(Captured(envelope.mail_from, list(envelope.rcpt_tos), data, message))

    def accepted_to(self, rcpt: str) -> int:
        """How many messages were accepted for a recipient."""
        rcpt = rcpt.lower()
        with self._lock:
            return sum(1 for m in self.messages if rcpt in (r.lower() for r in m.rcpt_tos))

    def attempts_to(self, rcpt: str) -> int:
        """How many DATA/RCPT attempts were made for a recipient."""
        with self._lock:
            return sum(1 for r, _b in self.attempts if r == rcpt.lower())


@pytest.fixture
def smtp_server():
    """A fresh loopback SMTP server per test."""
    server = SmtpTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server_auth():
    """A loopback SMTP server requiring AUTH (user 'mittente', password 'segreta-123')."""
    server = SmtpTestServer(auth={"mittente": "segreta-123"}).start()
    yield server
    server.stop()
