"""OAuth2 on loopback: a token endpoint stand-in (HTTPS, RFC 6749 as Microsoft and Google answer it) and an
aiosmtpd server that accepts AUTH XOAUTH2 only with a bearer token the stand-in issued and still honours.

    from tests.support.oauth import oauth_provider, xoauth_smtp  # noqa: F401  (fixtures)

The stand-in serves:
- Microsoft: GET /<tenant>/v2.0/.well-known/openid-configuration (what MSAL discovers; an unknown tenant gets
  400 AADSTS90002) and POST /<tenant>/oauth2/v2.0/token (client_credentials, refresh_token, authorization_code);
- Google: POST /token (urn:ietf:params:oauth:grant-type:jwt-bearer with an RS256 assertion checked against the
  service account's public key; refresh_token).
Every token request is recorded (`token_requests`), tokens can be expired or revoked server side.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .pec_ca import _name, make_ca
from .services import free_port
from .smtp import SmtpTestServer, _Handler

TENANT = "11111111-2222-3333-4444-555555555555"
MS_CLIENT = ("aaaaaaaa-0000-0000-0000-000000000001", "segreto-app-ms")
GOOGLE_CLIENT = ("1234567890-abc.apps.googleusercontent.com", "segreto-client-google")
MAILBOX = "fatture@azienda.example"


def _server_cert(ca, directory: Path) -> tuple[Path, Path, Path]:
    """A TLS certificate for 127.0.0.1 issued by the CA: (cert, key, CA bundle) files."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1", "Token di prova"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    paths = directory / "token-cert.pem", directory / "token-key.pem", directory / "token-ca.pem"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths[2].write_bytes(ca.pem)
    return paths


class TokenEndpoint:
    """The provider's token endpoint on https://127.0.0.1:<port>."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.tenants = {TENANT}
        self.clients = {MS_CLIENT[0]: MS_CLIENT[1], GOOGLE_CLIENT[0]: GOOGLE_CLIENT[1]}
        self.refresh_tokens: set[str] = set()
        self.auth_codes: dict[str, str] = {}
        self.service_accounts: dict[str, rsa.RSAPublicKey] = {}
        self.client_certificates: dict[str, x509.Certificate] = {}  # client id -> certificate
        self.expires_in = 3600
        self.tokens: dict[str, dict] = {}  # access token -> {"expires_at", "subject", "revoked"}
        self.token_requests: list[dict] = []
        self.discovery_requests = 0
        self._lock = threading.Lock()
        ca = make_ca("Token di prova Root CA", "Token di prova")
        cert, key, self.ca_bundle = _server_cert(ca, directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- set-up helpers
    def start(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def new_refresh_token(self) -> str:
        token = "rt-" + secrets.token_urlsafe(16)
        self.refresh_tokens.add(token)
        return token

    def new_auth_code(self, redirect_uri: str) -> str:
        code = "code-" + secrets.token_urlsafe(8)
        self.auth_codes[code] = redirect_uri
        return code

    def service_account_json(self, email: str = "recapito@progetto.iam.gserviceaccount.com") -> str:
        """A Google service-account key file (as the console downloads it) whose public key the stand-in knows."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.service_accounts[email] = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "progetto",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": email,
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )

    @property
    def google_token_uri(self) -> str:
        return f"{self.base}/token"

    def grants(self, kind: str | None = None) -> int:
        """How many tokens were requested (of a grant type)."""
        with self._lock:
            return sum(1 for r in self.token_requests if kind is None or r["grant_type"] == kind)

    def expire_all(self) -> None:
        """Every issued token expires now (the caches still hold them)."""
        with self._lock:
            for entry in self.tokens.values():
                entry["expires_at"] = 0

    def valid(self, token: str, subject: str) -> bool:
        """True when the token was issued here for this mailbox and is still honoured."""
        with self._lock:
            entry = self.tokens.get(token)
            return bool(entry) and entry["expires_at"] > time.time() and entry["subject"] in ("*", subject)

    # --- the HTTP side
    def _issue(self, subject: str, refresh: bool = False) -> dict:
        token = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = {"expires_at": time.time() + self.expires_in, "subject": subject}
        body = {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token}
        if refresh:
            body["refresh_token"] = self.new_refresh_token()
        return body

    def _token(self, path: str, form: dict) -> tuple[int, dict]:
        grant = form.get("grant_type", "")
        with self._lock:
            self.token_requests.append(
                {"path": path, "grant_type": grant, "client_id": form.get("client_id")}
            )
        if path.endswith("/oauth2/v2.0/token"):  # Microsoft
            tenant = path.strip("/").split("/")[0]
            if tenant not in self.tenants:
                return 400, {
                    "error": "invalid_request",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                }
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_bearer(form.get("assertion", ""))
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("client_assertion"):
            secret = self._client_assertion(client, path, form["client_assertion"])
        if self.clients.get(client) != secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        if grant == "client_credentials":
            return 200, self._issue("*")
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70000: The provided grant has expired or been revoked.",
                }
            return 200, self._issue("*", refresh=True)
        if grant == "authorization_code":
            if self.auth_codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "AADSTS70000: bad code."}
            return 200, self._issue("*", refresh=True)
        return 400, {"error": "unsupported_grant_type"}

    def _client_assertion(self, client: str, path: str, assertion: str) -> str:
        """A certificate-signed client assertion (RFC 7523), as Entra checks it: the secret if it is good."""
        cert = self.client_certificates.get(client)
        if cert is None:
            return ""
        thumb = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
        if (jwt.get_unverified_header(assertion).get("x5t#S256") or "").rstrip("=") != thumb:
            return ""
        try:
            jwt.decode(
                assertion,
                cert.public_key(),
                algorithms=["PS256", "RS256"],
                audience=self.base + path,
                issuer=client,
            )
        except jwt.PyJWTError:
            return ""
        return self.clients[client]

    def client_certificate_pem(self, client: str = MS_CLIENT[0]) -> str:
        """A key + self-signed certificate registered for the client (what one uploads to the app registration)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        name = _name("recapito-app", "Azienda")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        self.client_certificates[client] = cert
        return (
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            + cert.public_bytes(serialization.Encoding.PEM).decode()
        )

    def _jwt_bearer(self, assertion: str) -> tuple[int, dict]:
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False})["iss"]
            key = self.service_accounts[issuer]
            # google-auth signs for Google's audience whatever the token_uri (as Google expects).
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=[self.google_token_uri, "https://oauth2.googleapis.com/token"],
            )
        except (jwt.PyJWTError, KeyError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("scope") != "https://mail.google.com/" or not claims.get("sub"):
            return 400, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using this method.",
            }
        return 200, self._issue(claims["sub"])

    def _handler(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                    tenant = parts[0]
                    endpoint.discovery_requests += 1
                    if tenant not in endpoint.tenants:
                        return self._send(
                            400,
                            {
                                "error": "invalid_tenant",
                                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                            },
                        )
                    base = f"{endpoint.base}/{tenant}"
                    return self._send(
                        200,
                        {
                            "issuer": f"{base}/v2.0",
                            "token_endpoint": f"{base}/oauth2/v2.0/token",
                            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        },
                    )
                return self._send(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):  # client_secret_basic
                    client, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    form.setdefault("client_id", urllib.parse.unquote(client))
                    form.setdefault("client_secret", urllib.parse.unquote(secret))
                status, body = endpoint._token(self.path.split("?")[0], form)
                self._send(status, body)

        return Handler


class _XOAuthHandler(_Handler):
    """The scripted handler plus AUTH XOAUTH2 checked against the token endpoint."""

    async def auth_XOAUTH2(self, server, args):
        smtp = self.server
        if len(args) == 2:
            raw = args[1]
        else:
            answer = await server.challenge_auth("")
            raw = answer.decode() if isinstance(answer, bytes) else ""
        try:
            fields = dict(part.split("=", 1) for part in base64.b64decode(raw).decode().split("\x01") if part)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError):
            await server.push("501 5.5.2 Cannot decode XOAUTH2")
            return AuthResult(success=False, handled=True)
        with smtp._lock:
            smtp.auth_attempts.append((user, token))
        if smtp.tokens.valid(token, user):
            return AuthResult(success=True, auth_data=user)
        # As Gmail/Exchange: an error challenge (334 + base64 JSON), the client answers empty, then 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


class XOAuthSmtpServer(SmtpTestServer):
    """A loopback SMTP server that requires AUTH XOAUTH2 with a token from `tokens`."""

    def __init__(self, tokens: TokenEndpoint):
        super().__init__()
        self.tokens = tokens
        self.auth_attempts: list[tuple[str, str]] = []

    def start(self) -> XOAuthSmtpServer:
        self._controller = Controller(
            _XOAuthHandler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test.local",
            ready_timeout=10,
            auth_require_tls=False,
            auth_required=True,
        )
        self._controller.start()
        return self


@pytest.fixture
def oauth_provider(app, tmp_path):
    """The token endpoint stand-in; the app trusts its CA (OAUTH_CA_BUNDLE)."""
    endpoint = TokenEndpoint(tmp_path).start()
    app.config["OAUTH_CA_BUNDLE"] = str(endpoint.ca_bundle)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def xoauth_smtp(oauth_provider):
    """An SMTP server accepting XOAUTH2 tokens of `oauth_provider`."""
    server = XOAuthSmtpServer(oauth_provider).start()
    yield server
    server.stop()
