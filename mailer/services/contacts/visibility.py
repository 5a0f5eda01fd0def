"""Who sees which contacts: the privacy filter every query over contacts applies, and the roles of the area.

A user sees a contact only when `Contact.privacy_level <= user.privacy_clearance`; other areas call
`visible_contacts_query(user)` / `visible_contacts_filter(clearance)` instead of querying Contact directly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from ...extensions import db
from ...models import (
    Contact,
)

VIEW_ROLES = ("operator", "manager", "sales")  # admin passes every check
EDIT_ROLES = ("operator", "manager")
IMPORT_ROLES = ("operator", "manager")


def clearance_of(user_or_clearance: Any) -> int:
    """A clearance from a user (its privacy_clearance), an int, or -1 for nobody."""
    if isinstance(user_or_clearance, int):
        return user_or_clearance
    if user_or_clearance is None or getattr(user_or_clearance, "is_anonymous", False):
        return -1
    return int(getattr(user_or_clearance, "privacy_clearance", -1))


def visible_contacts_filter(user_or_clearance: Any):
    """SQL condition: the contact is within the user's clearance (use it in joins and sub-queries)."""
    return Contact.privacy_level <= clearance_of(user_or_clearance)


def visible_contacts_query(user_or_clearance: Any) -> Select:
    """`select(Contact)` limited to the contacts the user may see; add your own filters to it."""
    return select(Contact).where(visible_contacts_filter(user_or_clearance))


def get_visible_contact(contact_id: int, user_or_clearance: Any) -> Contact | None:
    """The contact when it exists and the user may see it, else None (callers answer 404 either way)."""
    return db.session.scalar(visible_contacts_query(user_or_clearance).where(Contact.id == contact_id))


def party_contacts(party_id: int, user_or_clearance: Any) -> list[Contact]:
    """The party's contacts visible to the user, by name."""
    return list(
        db.session.scalars(
            visible_contacts_query(user_or_clearance)
            .where(Contact.party_id == party_id)
            .order_by(Contact.name, Contact.id)
        )
    )
