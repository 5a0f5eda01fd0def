"""Saved filters (segments with a name) a campaign is sent to: who may see, use and change them."""

from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...models import (
    SavedFilter,
    User,
)
from .. import segments
from ..audit import audit


class CampaignError(ValueError):
    """A campaign that cannot be prepared; `errors` maps form field -> Italian message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def visible_filters(user: User) -> list[SavedFilter]:
    """The user's own filters and the shared ones."""
    return list(
        db.session.scalars(
            select(SavedFilter)
            .where((SavedFilter.owner_id == user.id) | SavedFilter.shared.is_(True))
            .order_by(SavedFilter.name)
        )
    )


def get_filter(filter_id: int, user: User) -> SavedFilter | None:
    """A filter the user may use (own or shared)."""
    row = db.session.get(SavedFilter, filter_id)
    if row is None or not (row.shared or row.owner_id == user.id or user.has_role("admin")):
        return None
    return row


def may_edit_filter(row: SavedFilter, user: User) -> bool:
    """Only the owner (or an admin) changes or deletes a filter."""
    return row.owner_id == user.id or user.has_role("admin")


def save_filter(
    row: SavedFilter | None, name: str, conditions: list[dict], shared: bool, user: User
) -> SavedFilter:
    """Create or update a saved filter (the caller commits); CampaignError / SegmentError in Italian."""
    name = " ".join((name or "").split())[:120]
    if not name:
        raise CampaignError({"name": "Dai un nome al filtro."})
    cleaned = segments.parse_conditions(conditions)
    if not cleaned:
        raise CampaignError({"conditions": "Aggiungi almeno una condizione."})
    if row is None:
        row = SavedFilter(owner_id=user.id)
        db.session.add(row)
    row.name, row.conditions, row.shared = name, cleaned, bool(shared)
    db.session.flush()
    audit("segment.save", row, user=user, name=name, shared=bool(shared))
    return row
