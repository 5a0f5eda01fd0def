"""A stand-in for the ERP's webhook receiver: a threaded HTTP server on loopback that answers what the test
scripts (200, 500, a 4xx, a timeout, a slow answer) and checks each signature with its own, independent
implementation of the Standard Webhooks verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailer.extensions import db
from mailer.models import User, WebhookEndpoint
from mailer.services.crypto import encrypt_secret

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """What an ERP does with the headers: recompute the HMAC over «id.timestamp.body», compare in constant
    time against each «v1,…» signature, refuse a timestamp off by more than `tolerance` seconds."""
    msg_id, ts, sigs = (
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
    )
    if not (msg_id and ts and sigs) or abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
    return any(v.startswith("v1,") and hmac.compare_digest(v[3:].encode(), expected) for v in sigs.split(" "))


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    valid: bool
    answered: int | None  # None: the receiver did not answer in time

    @property
    def event(self) -> dict:
        """The JSON body."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """The server; `script` is consumed one action per request: an int status, ("slow", seconds, status)
    or ("hang", seconds) = no answer before the client's timeout. Then it answers 200."""

    secret: str = SECRET
    script: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>/hook"""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        """Listen on a free loopback port in a thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    action = receiver.script.pop(0) if receiver.script else 200
                entry = Received(headers, body, verify(receiver.secret, headers, body), None)
                with receiver.lock:
                    receiver.received.append(entry)
                status = action
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    if action[0] == "hang":
                        return  # the client gave up already
                    status = action[2]
                entry.answered = status
                text = json.dumps({"ricevuto": True, "esito": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def events(self, event_type: str | None = None) -> list[Received]:
        """What arrived (of one type)."""
        with self.lock:
            return [r for r in self.received if event_type is None or r.event["type"] == event_type]


@pytest.fixture
def receiver():
    """A webhook receiver on loopback, stopped after the test."""
    server = WebhookReceiver().start()
    yield server
    server.stop()


def make_endpoint(url: str, events: list[str], owner: User | None = None, clearance: int = 3, **kw):
    """An active endpoint with the known SECRET (owned by a user of the given clearance unless given)."""
    if owner is None:
        owner = User(
            username=f"erp{clearance}", password_hash="!", privacy_clearance=clearance, roles="admin"
        )
        db.session.add(owner)
        db.session.flush()
    endpoint = WebhookEndpoint(
        url=url,
        description=kw.pop("description", "ERP di prova"),
        events=",".join(events),
        owner_id=owner.id,
        active=kw.pop("active", True),
        secret_encrypted=encrypt_secret(kw.pop("secret", SECRET)),
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint
