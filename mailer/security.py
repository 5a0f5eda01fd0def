"""Access checks shared by every blueprint: roles, privacy clearance, send permissions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user

# Endpoints reachable without logging in. Later areas add theirs with `public_endpoint`.
PUBLIC_ENDPOINTS: set[str] = {"auth.login", "static", "main.healthz"}
PUBLIC_BLUEPRINTS: set[str] = {"api"}  # e.g. "api" (token auth), "public" (unsubscribe)


def public_endpoint(view: Callable) -> Callable:
    """Mark a view as reachable without login (its endpoint is registered at first request)."""
    view._public = True  # type: ignore[attr-defined]
    return view


def role_required(*roles: str) -> Callable:
    """Decorator: the current user must have one of the roles (admin passes every check)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_roles(*roles: str) -> None:
    """Abort with 403 unless the current user has one of the roles (for blueprint before_request)."""
    if not current_user.is_authenticated:
        abort(401)
    if not current_user.has_role(*roles):
        abort(403)


def clearance() -> int:
    """The current user's privacy clearance (-1 when nobody is logged in)."""
    return int(current_user.privacy_clearance) if current_user.is_authenticated else -1


def local_url(target: str | None) -> str | None:
    """target when it is a path on this site («/invii/2?vista=failed»), else None (no open redirects)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
