"""The history of a party's contacts as its page shows it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from ...extensions import db
from ...models import (
    Contact,
    ContactChange,
    User,
)
from .visibility import clearance_of
from .writes import FIELD_LABELS


@dataclass
class HistoryEntry:
    """A contact change as the party page shows it."""

    at: datetime
    action: str
    username: str
    contact: str
    changes: list[tuple[str, str, str]]


def party_history(party_id: int, user_or_clearance: Any, limit: int = 100) -> list[HistoryEntry]:
    """Changes to the party's contacts that the user may see, newest first.

    An entry is hidden when it shows data above the clearance (its own level) or when the contact
    it belongs to is now above the clearance.
    """
    clearance = clearance_of(user_or_clearance)
    rows = db.session.execute(
        select(ContactChange, User.username)
        .outerjoin(User, User.id == ContactChange.user_id)
        .outerjoin(Contact, Contact.id == ContactChange.contact_id)
        .where(
            ContactChange.party_id == party_id,
            ContactChange.privacy_level <= clearance,
            or_(Contact.id.is_(None), Contact.privacy_level <= clearance),
        )
        .order_by(ContactChange.at.desc(), ContactChange.id.desc())
        .limit(limit)
    ).all()
    entries = []
    for change, username in rows:
        try:
            data = json.loads(change.changes or "{}")
        except ValueError:
            data = {}
        label = data.pop("_contact", "")
        by = data.pop("_by", "")
        fields = [
            (FIELD_LABELS.get(k, k), str(v[0] or ""), str(v[1] or ""))
            for k, v in data.items()
            if isinstance(v, list) and len(v) == 2
        ]
        entries.append(
            HistoryEntry(
                at=change.at,
                action=change.action,
                username=username or by or "sistema",
                contact=label,
                changes=fields,
            )
        )
    return entries
