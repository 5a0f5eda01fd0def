"""Webhook endpoints: checking what an administrator typed, creating, changing, rotating the secret."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import WEBHOOK_EVENTS, User, WebhookEndpoint, utcnow
from ..audit import audit
from ..crypto import encrypt_secret

LOOPBACK_HOSTS = {"localhost"}


@dataclass
class EndpointInput:
    """What the form sends."""

    url: str = ""
    description: str = ""
    events: tuple[str, ...] = ()
    owner_id: str = ""
    active: bool = True

    @classmethod
    def from_form(cls, form) -> EndpointInput:
        """Read the admin form."""
        return cls(
            url=(form.get("url") or "").strip(),
            description=(form.get("description") or "").strip(),
            events=tuple(form.getlist("events")),
            owner_id=(form.get("owner_id") or "").strip(),
            active=form.get("active") == "1",
        )


def _loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_allowed() -> bool:
    """Plain http is allowed only to loopback, and only in the testing and development configurations."""
    config = current_app.config
    return bool(config.get("TESTING") or config.get("ENV_NAME") in ("testing", "development"))


def url_problem(url: str) -> str:
    """Why the address cannot be used ('' when it can)."""
    if not url:
        return "Indica l'indirizzo (https://…) a cui il gestionale riceve gli eventi."
    if len(url) > 500:
        return "L'indirizzo è troppo lungo (al massimo 500 caratteri)."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "L'indirizzo non è valido."
    if parts.scheme not in ("https", "http") or not host:
        return "L'indirizzo deve iniziare con https:// e contenere il nome del server."
    if parts.username or parts.password:
        return "Non mettere utente e password nell'indirizzo: la firma degli eventi basta ad autenticarli."
    if parts.fragment:
        return "L'indirizzo non può contenere «#»."
    if parts.scheme == "http" and not (http_allowed() and _loopback(host)):
        return "Serve un indirizzo https:// (http è ammesso solo verso questo computer, in prova o sviluppo)."
    return ""


def owners() -> list[User]:
    """Active users who may own an endpoint (its events show what their clearance allows)."""
    return list(
        db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).unique()
    )


def validate(data: EndpointInput) -> tuple[dict, dict[str, str]]:
    """(clean values, errors by field name); nothing is written."""
    errors: dict[str, str] = {}
    problem = url_problem(data.url)
    if problem:
        errors["url"] = problem
    if len(data.description) > 200:
        errors["description"] = "La descrizione può avere al massimo 200 caratteri."
    unknown = [e for e in data.events if e not in WEBHOOK_EVENTS]
    if unknown or not data.events:
        errors["events"] = "Scegli almeno un evento tra quelli elencati."
    owner = None
    if data.owner_id.isdigit():
        owner = db.session.get(User, int(data.owner_id))
    if owner is None or not owner.active:
        errors["owner_id"] = (
            "Scegli l'utente di cui l'indirizzo riceve la visibilità (livello di riservatezza)."
        )
    clean = {
        "url": data.url,
        "description": data.description,
        "events": ",".join(e for e in WEBHOOK_EVENTS if e in data.events),
        "owner_id": owner.id if owner else None,
        "active": data.active,
    }
    return clean, errors


def new_secret() -> str:
    """A fresh signing secret, Standard Webhooks format: «whsec_» + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_endpoint(clean: dict, user) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint with a new secret; returns it and the secret (shown once). The caller commits."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=clean["url"],
        description=clean["description"],
        events=clean["events"],
        owner_id=clean["owner_id"],
        active=clean["active"],
        secret_encrypted=encrypt_secret(secret),
        created_by_id=getattr(user, "id", None),
        created_at=utcnow(),
    )
    db.session.add(endpoint)
    db.session.flush()
    audit("webhook.create", endpoint, url=endpoint.url, events=endpoint.events, owner_id=endpoint.owner_id)
    return endpoint, secret


def update_endpoint(endpoint: WebhookEndpoint, clean: dict) -> None:
    """Change an endpoint (the secret stays); the caller commits."""
    before = {k: getattr(endpoint, k) for k in ("url", "description", "events", "owner_id", "active")}
    for name, value in clean.items():
        setattr(endpoint, name, value)
    changed = {k: [v, clean[k]] for k, v in before.items() if v != clean[k]}
    audit("webhook.update", endpoint, changes=changed)


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Replace the secret (messages from now on are signed with the new one); returns it, shown once."""
    secret = new_secret()
    endpoint.secret_encrypted = encrypt_secret(secret)
    endpoint.secret_rotated_at = utcnow()
    audit("webhook.rotate_secret", endpoint, url=endpoint.url)
    return secret
