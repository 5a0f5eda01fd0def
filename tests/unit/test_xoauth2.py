"""XOAUTH2 exchanges: the SASL string, and IMAP AUTHENTICATE against a minimal loopback IMAP server
(greeting, CAPABILITY, AUTHENTICATE XOAUTH2 with Gmail's error challenge, LOGOUT)."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from mailer.transport.imap import ImapError, ImapMailbox, ImapSettings
from mailer.transport.xoauth2 import TOKEN_REFUSED, OAuthError, xoauth2_string


class MiniImap:
    """Just enough IMAP4rev1 for a login; records what the client sent."""

    def __init__(self, valid_tokens: set[str]):
        self.valid = valid_tokens
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        stream = conn.makefile("rwb")

        def say(line: str):
            stream.write(line.encode() + b"\r\n")
            stream.flush()

        say("* OK mini IMAP ready")
        while True:
            line = stream.readline()
            if not line:
                return
            tag, _, command = line.decode().strip().partition(" ")
            verb = command.split(" ")[0].upper()
            if verb == "CAPABILITY":
                say("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2")
                say(f"{tag} OK done")
            elif verb == "AUTHENTICATE" and command.split(" ")[1].upper() == "XOAUTH2":
                say("+ ")
                answer = stream.readline().strip()
                self.received.append(base64.b64decode(answer))
                fields = dict(p.split("=", 1) for p in base64.b64decode(answer).decode().split("\x01") if p)
                if fields.get("auth", "").removeprefix("Bearer ") in self.valid:
                    say(f"{tag} OK Success")
                else:
                    error = base64.b64encode(
                        json.dumps({"status": "400", "schemes": "Bearer"}).encode()
                    ).decode()
                    say(f"+ {error}")
                    self.received.append(stream.readline().strip())  # the client's empty answer
                    say(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
            elif verb == "LOGOUT":
                say("* BYE")
                say(f"{tag} OK bye")
                conn.close()
                return
            else:
                say(f"{tag} BAD unknown")

    def stop(self):
        self.sock.close()


class Provider:
    """A token provider: a stale token from the cache first, a fresh one when forced."""

    def __init__(self):
        self.calls: list[bool] = []

    def __call__(self, force: bool = False) -> str:
        self.calls.append(force)
        return "fresh" if force else "stale"


def test_xoauth2_string():
    assert xoauth2_string("a@b.it", "tok") == "user=a@b.it\x01auth=Bearer tok\x01\x01"


def _box(server, provider) -> ImapMailbox:
    return ImapMailbox(
        ImapSettings(
            host="127.0.0.1",
            port=server.port,
            username="casella@azienda.it",
            allow_plaintext_loopback=True,
            timeout=5,
            token_provider=provider,
        )
    )


def test_imap_xoauth2_retries_once_with_a_fresh_token():
    server = MiniImap({"fresh"})
    provider = Provider()
    try:
        with _box(server, provider):
            pass
    finally:
        server.stop()
    assert provider.calls == [False, True]
    assert server.received[0] == b"user=casella@azienda.it\x01auth=Bearer stale\x01\x01"
    assert server.received[1] == b""  # the empty answer to the error challenge
    assert server.received[2] == b"user=casella@azienda.it\x01auth=Bearer fresh\x01\x01"


def test_imap_xoauth2_refused_twice_says_what_to_fix():
    server = MiniImap(set())
    provider = Provider()
    try:
        with pytest.raises(ImapError) as raised:
            _box(server, provider).open()
    finally:
        server.stop()
    assert provider.calls == [False, True]
    assert TOKEN_REFUSED in str(raised.value) and "casella@azienda.it" in str(raised.value)


def test_imap_token_error_is_an_imap_error():
    server = MiniImap(set())

    def broken(force=False):
        raise OAuthError("Token OAuth2 non ottenuto: l'autorizzazione è stata revocata o è scaduta")

    try:
        with pytest.raises(ImapError, match="revocata o è scaduta"):
            _box(server, broken).open()
    finally:
        server.stop()
