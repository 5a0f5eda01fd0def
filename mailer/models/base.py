"""Shared column helpers for the models."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Current time in UTC, naive (the database stores UTC without zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
