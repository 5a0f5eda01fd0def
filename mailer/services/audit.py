"""Writing audit events."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from ..extensions import db
from ..models import AuditEvent


def audit(action: str, obj: Any = None, user: Any = None, **details: Any) -> AuditEvent:
    """Record an audited action in the current transaction (the caller commits)."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user
    event = AuditEvent(
        action=action,
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", "") or details.pop("username", ""),
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "id", "") or "") if obj is not None else "",
        ip=(request.remote_addr or "") if has_request_context() else "",
        details={k: v for k, v in details.items() if "password" not in k.lower()},
    )
    db.session.add(event)
    return event
