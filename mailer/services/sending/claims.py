"""The sender's statements on deliveries: the claim before a message leaves, the outcome after it, and both
in one statement (the outcome of the message just sent with the claim of the next).

Built once; executed with parameters (compiled once)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, case, func, or_

from ...models import Delivery

_DELIVERIES = Delivery.__table__
_C = _DELIVERIES.c

# Claim: only a queued delivery whose attempt is due can be taken, by one sender. Message-ID and Date
# are fixed at the first attempt and kept for the retries; the claim returns the stored ones (and the
# attempt number), so the message carries them even when the sender read the row before another
# sender's attempt.
CLAIMED = (_C.message_id, _C.message_date, _C.attempts)
_CLAIMABLE = and_(
    _C.id == bindparam("did"),
    _C.status == "queued",
    or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= bindparam("now")),
)
_CLAIM_VALUES = {
    "status": "sending",
    "claimed_at": bindparam("now"),
    "claimed_by": bindparam("token"),
    "attempts": _C.attempts + 1,
    "message_id": func.coalesce(func.nullif(_C.message_id, ""), bindparam("new_id")),
    "message_date": func.coalesce(func.nullif(_C.message_date, ""), bindparam("new_date")),
}
CLAIM = _DELIVERIES.update().where(_CLAIMABLE).values(**_CLAIM_VALUES).returning(*CLAIMED)


def _markable(prefix: str):
    """Only the claimer writes the outcome (also over "uncertain", when the watchdog was early)."""
    return and_(
        _C.id == bindparam(f"{prefix}did"),
        _C.claimed_by == bindparam("token"),
        _C.status.in_(["sending", "uncertain"]),
    )


def _mark_values(prefix: str) -> dict:
    """The outcome's columns, from parameters named prefix + status, code, reason, sent_at, digest, next_at."""

    def param(name: str, column):
        return bindparam(prefix + name, type_=column.type)

    return {
        "status": param("status", _C.status),
        "smtp_code": param("code", _C.smtp_code),
        "smtp_reason": param("reason", _C.smtp_reason),
        "sent_at": func.coalesce(param("sent_at", _C.sent_at), _C.sent_at),
        "message_sha256": func.coalesce(
            func.nullif(param("digest", _C.message_sha256), ""), _C.message_sha256
        ),
        "next_attempt_at": param("next_at", _C.next_attempt_at),
    }


MARK = _DELIVERIES.update().where(_markable("")).values(**_mark_values(""))

# Both at once: one UPDATE touching two rows, the claimed one (id = did) and the marked one (id = mark_did),
# each column taking the claim's value on the first and the outcome's on the second. One round trip to the
# database a message fewer; the same conditions, in the same transaction, committed before the message leaves.
_is_claim = _C.id == bindparam("did")
_mark = _mark_values("mark_")
_claim_or_mark = {
    name: case((_is_claim, _CLAIM_VALUES.get(name, _C[name])), else_=_mark.get(name, _C[name]))
    for name in {**_CLAIM_VALUES, **_mark}
}
CLAIM_AND_MARK = (
    _DELIVERIES.update()
    .where(or_(_CLAIMABLE, _markable("mark_")))
    .values(**_claim_or_mark)
    .returning(_C.id, *CLAIMED)
)
