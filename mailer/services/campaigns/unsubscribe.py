"""Unsubscribe links and headers (signed contact ids) and the opt-out they lead to."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, cast

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select, update

from ...extensions import db
from ...models import (
    Batch,
    Contact,
    ContactChange,
    Delivery,
    utcnow,
)
from .. import webhooks
from ..audit import audit

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

OPT_OUT_REASON = "Disiscritto dalle comunicazioni"
UNSUBSCRIBE_PATH = "/campagne/disiscrizione/"


def link_serializer(purpose: str, timed: bool = False) -> URLSafeSerializer | URLSafeTimedSerializer:
    """The signer of the links in e-mails: the app secret (HMAC-SHA1 via itsdangerous), one salt per
    purpose, so a token made for one kind of link is refused by every other; timed ones carry their date."""
    cls = URLSafeTimedSerializer if timed else URLSafeSerializer
    return cls(current_app.config["SECRET_KEY"], salt=f"recapito.{purpose}")


def _serializer() -> URLSafeSerializer | URLSafeTimedSerializer:
    """Signs contact ids for the unsubscribe links (no expiry: the law wants them to keep working)."""
    return link_serializer("unsubscribe")


def unsubscribe_token(contact_id: int) -> str:
    """The token of a contact's unsubscribe link."""
    return _serializer().dumps({"c": int(contact_id)})


def contact_from_token(token: str) -> Contact | None:
    """The contact a token names, or None when the token is forged, altered or the contact gone."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    return db.session.get(Contact, data["c"])


def public_base_url(batch: Batch | None = None) -> str:
    """Base of the links in e-mails: PUBLIC_BASE_URL, else the address the campaign was created from."""
    configured = current_app.config.get("PUBLIC_BASE_URL") or os.environ.get("PUBLIC_BASE_URL", "")
    if configured:
        return configured.rstrip("/")
    return ((batch.params or {}).get("base_url") if batch else "") or "https://localhost"


def unsubscribe_url(contact_id: int, base: str, token: str | None = None) -> str:
    """The https link a recipient follows to unsubscribe (`token`: the contact's, when already signed)."""
    return f"{base.rstrip('/')}{UNSUBSCRIBE_PATH}{token or unsubscribe_token(contact_id)}"


def unsubscribe_headers(contact_id: int, base: str, token: str | None = None) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers of a commercial message (`token`: the contact's, when already signed)."""
    token = token or unsubscribe_token(contact_id)
    value = f"<{base.rstrip('/')}{UNSUBSCRIBE_PATH}{token}>"
    mailto = current_app.config.get("UNSUBSCRIBE_MAILTO") or os.environ.get("UNSUBSCRIBE_MAILTO", "")
    if mailto:
        value += f", <mailto:{mailto}?subject=unsubscribe%20{token}>"
    return {"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def unsubscribe(contact: Contact, via: str = "link") -> int:
    """Opt the contact out now and stop its unsent campaign deliveries; returns how many were stopped."""
    now = utcnow()
    if contact.opted_out_at is None:
        contact.opted_out_at = now
        db.session.add(
            ContactChange(
                contact_id=contact.id,
                party_id=contact.party_id,
                user_id=None,
                at=now,
                action="update",
                privacy_level=contact.privacy_level,
                changes=json.dumps({"opted_out_at": ["", now.strftime("%d/%m/%Y %H:%M")], "via": ["", via]}),
            )
        )
        webhooks.emit_contact("contact.opted_out", contact, via=via)
    stopped = stop_deliveries_of(contact.id)
    audit("contact.unsubscribe", contact, user=None, via=via, stopped=stopped)
    db.session.commit()
    return stopped


def stop_deliveries_of(contact_id: int) -> int:
    """Campaign deliveries of the contact not yet sent become excluded (the sender claims only queued)."""
    campaign_batches = select(Batch.id).where(Batch.kind == "campaign")
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.batch_id.in_(campaign_batches),
            Delivery.status.in_(["pending", "queued"]),
        )
        .values(status="excluded", exclusion_reason=OPT_OUT_REASON)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount  # an UPDATE answers with a cursor result
