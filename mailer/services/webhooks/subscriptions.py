"""Which event types the active endpoints subscribed to, remembered by each process.

Every sender commit asks whether anybody wants its delivery events; with no endpoint registered (most
installations) reading the endpoints each time was one database query per commit for nothing. Each process
keeps the answer together with a version token kept in Redis; any change to an endpoint replaces the token
right after its commit (in whichever process made it), so the next question anywhere re-reads the table.
The token is read before the table: a change committed in between is either in the reading or bumps the
token again, so an endpoint registered while a batch sends gets the events of the commits that follow.
As a safety net (a bump lost because Redis was away at that instant) the answer is re-read at least every
MAX_AGE_SECONDS, and every time while Redis does not answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import WebhookEndpoint
from ...queue import REDIS_DOWN, get_redis

log = logging.getLogger(__name__)

VERSION_KEY = "recapito:webhooks:endpoints-version"
MAX_AGE_SECONDS = 10.0
_CHANGED = "recapito_webhook_endpoints_changed"
_EXTENSION = "recapito_webhook_subscriptions"


@dataclass(frozen=True)
class _Known:
    """What this process read last: the token it was read under, the event types, when (monotonic)."""

    version: bytes | str | None
    events: frozenset[str]
    read_at: float


def _version() -> tuple[bool, bytes | str | None]:
    """(Redis answered, the current token or None when no change was recorded yet)."""
    try:
        return True, get_redis().get(VERSION_KEY)
    except REDIS_DOWN:
        return False, None


def subscribed_events() -> frozenset[str]:
    """Every event type at least one active endpoint subscribed to (as this transaction sees them)."""
    session = db.session
    if session.info.get(_CHANGED) or any(isinstance(o, WebhookEndpoint) for o in session.new):
        return _read()  # this transaction changes endpoints: only the table (as it sees it) knows
    answered, version = _version()
    known: _Known | None = current_app.extensions.get(_EXTENSION)
    now = time.monotonic()
    if answered and known is not None and known.version == version and now - known.read_at < MAX_AGE_SECONDS:
        return known.events
    events = _read()
    current_app.extensions[_EXTENSION] = _Known(version if answered else None, events, now)
    return events


def _read() -> frozenset[str]:
    """The event types of the active endpoints, from the table."""
    listed = db.session.scalars(select(WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True)))
    return frozenset(e for events in listed for e in (events or "").split(",") if e)


def forget() -> None:
    """Drop what this process remembers (the next question reads the table)."""
    if has_app_context():
        current_app.extensions.pop(_EXTENSION, None)


@event.listens_for(Session, "after_flush")
def _note_endpoint_changes(session: Session, _context) -> None:
    """Remember that this transaction added, changed or deleted an endpoint."""
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, WebhookEndpoint) for obj in touched):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_version(session: Session) -> None:
    """After a commit that changed endpoints: a new token for every process, and forget here too."""
    if not session.info.pop(_CHANGED, False) or not has_app_context():
        return
    forget()
    try:
        get_redis().set(VERSION_KEY, uuid.uuid4().hex)
    except REDIS_DOWN as exc:
        log.warning(
            "webhook endpoints changed but Redis is away (%s): other processes see it within %ss",
            exc,
            MAX_AGE_SECONDS,
        )


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_change(session: Session) -> None:
    """A rolled-back change changed nothing."""
    session.info.pop(_CHANGED, None)
