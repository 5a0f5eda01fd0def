"""Shared column helpers for the models."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Current time in UTC, naive (the database stores UTC without zone)."""
    return datetime.now(UTC).replace(tzinfo=None)
