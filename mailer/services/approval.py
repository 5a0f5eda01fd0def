"""Review and approval of a prepared batch: exclude/include, approve (four-eyes), reject."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update

from ..extensions import db, execute_rowcount
from ..models import Batch, Delivery, User, utcnow
from . import batch_views, sdi
from .audit import audit
from .preparation import UNPREPARABLE, blocking_problems
from .reference import get_company


class ApprovalError(Exception):
    """Approval or review refused (message in Italian)."""


class ResendNotConfirmed(ApprovalError):
    """The batch sends documents again: the approver must confirm it explicitly."""


def resend_count(batch_id: int, user: User | None = None) -> int:
    """Messages waiting to go that carry a document already sent (those the user may see)."""
    query = select(db.func.count(Delivery.id)).where(
        Delivery.batch_id == batch_id, Delivery.status == "pending", Delivery.already_sent_at.is_not(None)
    )
    return db.session.scalar(batch_views.visible(query, user)) or 0


def approval_summary(batch: Batch, user: User | None) -> dict[str, int]:
    """What the approval box states: re-sends, documents with no recipient, exclusions (visible ones only)."""
    query = (
        select(Delivery.status, Delivery.exclusion_reason, db.func.count(Delivery.id))
        .where(Delivery.batch_id == batch.id, Delivery.status.in_(["norecipient", "excluded"]))
        .group_by(Delivery.status, Delivery.exclusion_reason)
    )
    summary = {"resends": resend_count(batch.id, user), "norecipient": 0, "excluded": 0, "unpreparable": 0}
    summary.update(sdi_waiting=0, sdi_discarded=0)
    by_reason = {
        UNPREPARABLE: "unpreparable",
        sdi.SDI_WAITING: "sdi_waiting",
        sdi.SDI_DISCARDED: "sdi_discarded",
    }
    for status, reason, count in db.session.execute(batch_views.visible(query, user)):
        summary["norecipient" if status == "norecipient" else "excluded"] += count
        if reason in by_reason:
            summary[by_reason[reason]] += count
    return summary


def approval_problems(batch: Batch, user: User | None) -> list[str]:
    """Why this user may not approve this batch now (empty list: they may)."""
    problems: list[str] = []
    if batch.status != "ready":
        return ["L'invio non è in attesa di approvazione."]
    if user is not None:
        if not user.has_role("manager", "admin"):
            problems.append("Solo un responsabile può approvare.")
        denied = [c for c in (batch.type_codes or []) if not user.may_send(c)]
        if denied:
            problems.append(f"Non sei autorizzato a inviare: {', '.join(denied)}.")
        if get_company().four_eyes and batch.created_by_id == user.id:
            problems.append(
                "Controllo a quattro occhi: l'invio deve essere approvato da chi non l'ha preparato."
            )
        hidden = db.session.scalar(
            select(db.func.count(Delivery.id)).where(
                Delivery.batch_id == batch.id,
                Delivery.status == "pending",
                ~batch_views.visible_to(user.privacy_clearance),
            )
        )
        if hidden:
            # Only that they cannot: neither that hidden recipients exist nor counts that include them.
            return [*problems, "Non puoi approvare questo invio."]
    pending = db.session.scalar(
        select(db.func.count(Delivery.id)).where(Delivery.batch_id == batch.id, Delivery.status == "pending")
    )
    if not pending:
        problems.append("Non c'è nessun messaggio da inviare.")
    problems.extend(blocking_problems(batch))
    return problems


def review_fingerprint(batch_id: int) -> str:
    """What the approver reviewed, as a digest: every delivery's state, recipient, copies and account.

    The review page carries it in the approve form; an exclusion, inclusion or re-routing saved by
    someone else in the meantime changes it, and the approval is refused instead of covering a
    batch the approver has not seen.
    """
    digest = hashlib.sha256()
    rows = db.session.execute(
        select(Delivery.id, Delivery.status, Delivery.recipient_email, Delivery.cc, Delivery.account_id)
        .where(Delivery.batch_id == batch_id)
        .order_by(Delivery.id)
    )
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:32]


def approve_batch(
    batch: Batch,
    user: User | None,
    automatic: bool = False,
    reviewed: str | None = None,
    confirm_resend: bool = False,
) -> None:
    """Approve (user None only for automatic approval of scheduled, auto-approved types).

    `reviewed`: the fingerprint of what the approver saw (the web form always sends it); when given,
    the batch must still be exactly that. `confirm_resend`: the approver's explicit yes to sending again
    documents that already went out; without it a batch with re-sends is refused (automatic ones too).
    """
    if user is None and not automatic:
        raise ApprovalError("Serve un utente per approvare.")
    problems = approval_problems(batch, user)
    if problems:
        raise ApprovalError(" ".join(problems))
    resends = resend_count(batch.id)
    if resends and not confirm_resend:
        raise ResendNotConfirmed(
            f"L'invio contiene {resends} {'messaggio' if resends == 1 else 'messaggi'} con documenti già inviati: "
            "controlla gli avvisi «Già inviato» e conferma esplicitamente il reinvio per approvarlo."
        )
    _leave_ready(batch, status="approved", approved_by_id=user.id if user else None, approved_at=utcnow())
    # Compared after taking the batch out of "ready" (same transaction): a change committed up to
    # that moment is seen here, and none can follow it (changes need the batch still "ready").
    if reviewed is not None and reviewed != review_fingerprint(batch.id):
        db.session.rollback()
        raise ApprovalError(
            "L'invio è cambiato dopo che l'hai aperto (destinatari esclusi, inclusi o "
            "reinstradati da un altro utente): ricontrolla la pagina e approva di nuovo."
        )
    audit("batch.approve", batch, user=user, automatic=automatic, resends=resends)
    db.session.commit()


def _leave_ready(batch: Batch, **values) -> None:
    """Move the batch out of "ready" only if it is still there in the database (compare and set).

    The batch in hand may be stale: a double click, or two managers at once, would otherwise approve
    it twice, approve what another just rejected (its documents already free for a new batch) or
    cancelled.
    """
    changed = execute_rowcount(
        update(Batch)
        .where(Batch.id == batch.id, Batch.status == "ready")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not changed:
        db.session.rollback()
        raise ApprovalError("L'invio non è più in attesa di approvazione: ricarica la pagina.")
    for key, value in values.items():
        setattr(batch, key, value)


def may_discard(batch: Batch, user: User) -> bool:
    """Who prepared the batch, managers and administrators may discard it while it waits for approval."""
    return batch.status == "ready" and (batch.created_by_id == user.id or user.has_role("manager", "admin"))


def discard_batch(batch: Batch, user: User) -> None:
    """Discard a batch waiting for approval: nothing of it will leave and its documents are free again."""
    if batch.status != "ready":
        raise ApprovalError("Si può scartare solo un invio in attesa di approvazione.")
    if not may_discard(batch, user):
        raise ApprovalError(
            "Può scartare l'invio solo chi l'ha preparato, un responsabile o un amministratore."
        )
    _leave_ready(batch, status="cancelled", finished_at=utcnow())
    cancelled = execute_rowcount(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status == "pending")
        .values(status="cancelled")
    )
    audit("batch.discard", batch, user=user, cancelled=cancelled)
    db.session.commit()


def reject_batch(batch: Batch, user: User, reason: str) -> None:
    """Reject with a reason; the documents become free for another preparation."""
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError("Scrivi il motivo del rifiuto.")
    if batch.status != "ready":
        raise ApprovalError("Si può respingere solo un invio in attesa di approvazione.")
    if not user.has_role("manager", "admin"):
        raise ApprovalError("Solo un responsabile può respingere.")
    _leave_ready(
        batch, status="rejected", rejected_by_id=user.id, rejected_at=utcnow(), rejected_reason=reason[:2000]
    )
    audit("batch.reject", batch, user=user, reason=reason[:200])
    db.session.commit()


def set_excluded(batch: Batch, delivery_ids: list[int], excluded: bool, user: User) -> int:
    """Exclude or include deliveries the user can see, while the batch waits for approval."""
    if batch.status != "ready":
        raise ApprovalError("Si può modificare solo un invio in attesa di approvazione.")
    if not delivery_ids:
        raise ApprovalError("Seleziona almeno un destinatario.")
    # The batch must still be waiting in the database, not just in hand: nothing changes once approved.
    still_ready = select(Batch.id).where(Batch.id == batch.id, Batch.status == "ready").scalar_subquery()
    visible = (
        (Delivery.batch_id == still_ready)
        & Delivery.id.in_(delivery_ids)
        & batch_views.visible_to(user.privacy_clearance)
    )
    # "troppo grande" / "nessun account" flags survive an exclude + include round trip.
    blocking = Delivery.exclusion_reason.in_(["troppo grande", "nessun account"])
    if excluded:
        count = execute_rowcount(
            update(Delivery).where(visible, Delivery.status == "pending", blocking).values(status="excluded")
        )
        count += execute_rowcount(
            update(Delivery)
            .where(visible, Delivery.status == "pending", ~blocking)
            .values(status="excluded", exclusion_reason=f"Escluso da {user.username}")
        )
    else:
        # A contact who unsubscribed stays out: their campaign delivery cannot be included again.
        # Nor can a document that could not be prepared (no e-mail, no PDF was made for it).
        # Nor a document the SdI discarded or whose outcome the type waits for.
        visible = visible & Delivery.exclusion_reason.notin_(
            ["Disiscritto dalle comunicazioni", UNPREPARABLE, sdi.SDI_DISCARDED, sdi.SDI_WAITING]
        )
        count = execute_rowcount(
            update(Delivery).where(visible, Delivery.status == "excluded", blocking).values(status="pending")
        )
        count += execute_rowcount(
            update(Delivery)
            .where(visible, Delivery.status == "excluded", ~blocking)
            .values(status="pending", exclusion_reason="")
        )
    audit("batch.exclude" if excluded else "batch.include", batch, user=user, count=count)
    db.session.commit()
    return count
