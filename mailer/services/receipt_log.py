"""Reading the received messages (PEC receipts, bounces, everything else) for the «Ricevute e rimbalzi» page.

A receipt that concerns a delivery follows that delivery's visibility, exactly as on the batch
results page: not above the user's privacy clearance, and not in a batch whose document types the
user may not send (administrators pass the second rule, never the first). "Concerns" is the linked
delivery, or — for a receipt kept without a link (suspect, forged) — the delivery its Message-ID
names, because its original still carries that recipient. Receipts that name no delivery of ours
(unmatched, malformed, ignored) show whole only to the highest clearance; to everybody else who may
open the page with their addresses masked and without their original (see `unmatched`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, literal, not_, or_, select
from sqlalchemy.orm import aliased, selectinload

from ..extensions import db
from ..inputs import db_ids
from ..models import (
    RECEIPT_KINDS,
    RECEIPT_OUTCOMES,
    Batch,
    Blob,
    Delivery,
    MailAccount,
    MailboxState,
    Receipt,
)
from .batch_views import openable_batches, visible_to
from .pagination import page_arg, page_count, paginate
from .search import contains, matches_any
from .validation import mask_email

PER_PAGE = 50
FROM_FILE = "file"  # the account filter's value for messages imported with `receipts import`
# Outcomes a person should look at: the stat boxes at the top of the list.
PROBLEM_OUTCOMES = ("unmatched", "suspect", "malformed")
FULL_CLEARANCE = 3  # the highest privacy level: who may read unmatched messages whole


class ReceiptIntegrityError(Exception):
    """The stored original no longer matches its SHA-256 (or is missing)."""


@dataclass
class ReceiptFilters:
    """What the page filters on: outcome, kind, account (id or «file»), free text, page."""

    outcome: str = ""
    kind: str = ""
    account: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> ReceiptFilters:
        """Read the filters from a query string leniently (unknown values are ignored)."""
        outcome = (args.get("outcome") or "").strip()
        kind = (args.get("kind") or "").strip()
        account = (args.get("account") or "").strip()
        if account != FROM_FILE and not db_ids([account]):
            account = ""
        return cls(
            outcome=outcome if outcome in RECEIPT_OUTCOMES else "",
            kind=kind if kind in RECEIPT_KINDS else "",
            account=account[:18],
            q=(args.get("q") or "").strip()[:200],
            page=page_arg(args.get("page")),
        )

    def to_args(self, **override: Any) -> dict:
        """Query-string arguments (for links), without empty values."""
        args = {
            "outcome": self.outcome,
            "kind": self.kind,
            "account": self.account,
            "q": self.q,
            "page": self.page,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v not in ("", None) and not (k == "page" and v == 1)}

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(self.outcome or self.kind or self.account or self.q)


def _hidden_delivery(delivery, user):
    """SQL condition: this (aliased) delivery is not for the user's eyes: above their clearance (as
    copied or as its contact's level is now: batch_views.visible_to), or in a batch they may not open
    (batch_views.openable_batches)."""
    return or_(
        not_(visible_to(user.privacy_clearance, delivery)),
        delivery.batch_id.in_(select(Batch.id).where(not_(openable_batches(user)))),
    )


def _names_delivery(delivery):
    """SQL condition: a receipt kept without a link names this (aliased) delivery by its Message-ID."""
    bare = Receipt.referenced_message_id
    return and_(
        Receipt.delivery_id.is_(None),
        bare != "",
        or_(delivery.message_id == literal("<") + bare + literal(">"), delivery.message_id == bare),
    )


def visible(query, user):
    """Restrict a Receipt query to what the user may see (see the module docstring)."""
    linked, named = aliased(Delivery), aliased(Delivery)
    return query.where(
        not_(exists().where(linked.id == Receipt.delivery_id, _hidden_delivery(linked, user))),
        not_(exists().where(_names_delivery(named), _hidden_delivery(named, user))),
    )


def unmatched():
    """SQL condition: the receipt concerns no delivery of ours (neither linked nor named by Message-ID).

    What it quotes (addresses in its subject, sender, diagnostic, the original) may belong to a
    confidential contact whose delivery nobody can tell: such messages show whole only to the highest
    clearance (FULL_CLEARANCE); to anybody else with their addresses masked, and without the original.
    """
    named = aliased(Delivery)
    return and_(Receipt.delivery_id.is_(None), not_(exists().where(_names_delivery(named))))


def sees_unmatched_whole(user) -> bool:
    """Whether the user reads unmatched messages as they are (else masked, no original)."""
    return int(user.privacy_clearance) >= FULL_CLEARANCE


_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def mask_addresses(text: str) -> str:
    """Every e-mail address in the text masked (m***o@example.com), the rest unchanged."""
    return _ADDRESS.sub(lambda m: mask_email(m.group(0)), text or "")


def _query(filters: ReceiptFilters, user, with_outcome: bool = True):
    """The filtered, visible receipts query (no order)."""
    query = visible(select(Receipt), user)
    if with_outcome and filters.outcome:
        query = query.where(Receipt.outcome == filters.outcome)
    if filters.kind:
        query = query.where(Receipt.kind == filters.kind)
    if filters.account == FROM_FILE:
        query = query.where(Receipt.source == "file")
    elif filters.account:
        query = query.where(Receipt.account_id == int(filters.account))
    if filters.q:
        found = matches_any(
            (
                Receipt.subject,
                Receipt.sender,
                Receipt.referenced_message_id,
                Receipt.message_id,
                Receipt.file_name,
            ),
            filters.q,
        )
        if not sees_unmatched_whole(user):
            # What is masked on the page is not searchable either (a match would confirm it).
            found = or_(
                and_(found, not_(unmatched())),
                and_(unmatched(), contains(Receipt.message_id, filters.q)),
            )
        query = query.where(found)
    return query


@dataclass
class ReceiptPage:
    """One page of receipts, the figures for the pager and the counts per outcome."""

    receipts: list[Receipt]
    total: int
    page: int
    pages: int
    by_outcome: dict[str, int]
    masked: set[int] = field(default_factory=set)  # ids shown with their addresses masked, without original


def search_receipts(filters: ReceiptFilters, user, per_page: int | None = None) -> ReceiptPage:
    """The receipts the user may see that match the filters, newest first, one page of them."""
    per_page = per_page or PER_PAGE
    found = paginate(
        _query(filters, user)
        .options(selectinload(Receipt.delivery))
        .order_by(Receipt.received_at.desc(), Receipt.id.desc()),
        filters.page,
        per_page,
    )
    receipts, total, page = found.items, found.total or 0, found.page
    pages = page_count(total, per_page)
    # Per outcome under the other filters: the boxes say how many of each the outcome filter would give.
    counted = _query(filters, user, with_outcome=False).subquery()
    by_outcome: dict[str, int] = dict(
        db.session.execute(select(counted.c.outcome, db.func.count()).group_by(counted.c.outcome)).all()
    )
    masked: set[int] = set()
    if receipts and not sees_unmatched_whole(user):
        masked = set(
            db.session.scalars(
                select(Receipt.id).where(Receipt.id.in_([r.id for r in receipts]), unmatched())
            )
        )
    return ReceiptPage(
        receipts=receipts, total=total, page=page, pages=pages, by_outcome=by_outcome, masked=masked
    )


def downloadable_receipt(receipt_id: int, user) -> Receipt | None:
    """One receipt whose original the user may download: visible, and unmatched only for FULL_CLEARANCE."""
    query = visible(select(Receipt).where(Receipt.id == receipt_id), user)
    if not sees_unmatched_whole(user):
        query = query.where(not_(unmatched()))
    return db.session.scalar(query)


def visible_receipt(receipt_id: int, user) -> Receipt | None:
    """One receipt, if the user may see it."""
    return db.session.scalar(visible(select(Receipt).where(Receipt.id == receipt_id), user))


def receipt_original(receipt: Receipt) -> bytes:
    """The message exactly as received, checked against the digest taken when it arrived."""
    blob = db.session.get(Blob, receipt.raw_sha256)
    if blob is None or hashlib.sha256(blob.data).hexdigest() != receipt.raw_sha256:
        raise ReceiptIntegrityError("La ricevuta conservata non corrisponde alla sua impronta.")
    return blob.data


def delivery_receipts(delivery: Delivery) -> list[Receipt]:
    """What came back for one delivery, oldest first: the receipts applied or recorded on it, and the PEC
    receipts kept «sospette» (not linked) whose Message-ID names it. The caller has checked the delivery."""
    bare = (delivery.message_id or "").strip().strip("<>")
    concerns = Receipt.delivery_id == delivery.id
    if bare:
        concerns = or_(
            concerns,
            (Receipt.delivery_id.is_(None))
            & (Receipt.kind == "pec-receipt")
            & (Receipt.referenced_message_id == bare),
        )
    return list(db.session.scalars(select(Receipt).where(concerns).order_by(Receipt.received_at, Receipt.id)))


def receipt_filename(receipt: Receipt) -> str:
    """A download name that says what it is (only safe characters: the type comes from outside)."""
    what = re.sub(r"[^a-z0-9-]+", "-", (receipt.receipt_type or receipt.kind or "messaggio").lower()).strip(
        "-"
    )
    prefix = f"ricevuta-{receipt.delivery_id}-" if receipt.delivery_id else "ricevuta-"
    return f"{prefix}{receipt.id}-{what or 'messaggio'}.eml"


def account_names() -> dict[int, str]:
    """Every account's name by id, in name order (the account filter and the «received by» column)."""
    return dict(db.session.execute(select(MailAccount.id, MailAccount.name).order_by(MailAccount.name)).all())


@dataclass
class MailboxRow:
    """How the reading of one account's mailbox is going."""

    account: MailAccount
    folder: str
    state: MailboxState | None


def mailbox_rows() -> list[MailboxRow]:
    """Every active account the scheduler reads (IMAP settings present), with its folder's state."""
    accounts = db.session.scalars(
        select(MailAccount)
        .where(MailAccount.active.is_(True), MailAccount.imap_host != "")
        .order_by(MailAccount.name)
    ).all()
    states = {(s.account_id, s.folder): s for s in db.session.scalars(select(MailboxState))}
    rows = []
    for account in accounts:
        folder = account.imap_folder or "INBOX"
        rows.append(MailboxRow(account=account, folder=folder, state=states.get((account.id, folder))))
    return rows


def readable_account(account_id: int) -> MailAccount | None:
    """An account whose mailbox may be read now (active, with IMAP settings)."""
    account = db.session.get(MailAccount, account_id)
    if account is None or not account.active or not account.imap_host:
        return None
    return account


def enqueue_poll(account: MailAccount):
    """Queue the reading of one account's mailbox: the job the scheduler's mailbox reading runs per account."""
    from ..queue import POLL_ACCOUNT_JOB, enqueue

    return enqueue(
        POLL_ACCOUNT_JOB, account.id, job_timeout=1800, description=f"lettura casella account {account.id}"
    )
