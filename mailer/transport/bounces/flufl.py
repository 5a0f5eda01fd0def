"""GNU Mailman's detectors (flufl.bounce) for the non-standard formats, on a lightened copy of the message."""

from __future__ import annotations

import copy
import logging
from email.message import Message

from .report import BouncedRecipient, BounceReport, _clean_address
from .words import (
    MAX_SCANNED_TEXT,
)

log = logging.getLogger(__name__)


def _lightened(msg: Message) -> Message:
    """The message as flufl.bounce needs it: attachments (a returned PDF, images) emptied and long texts
    cut, so that its line-by-line matchers do not crawl through megabytes of base64 (a copy when
    anything had to go)."""
    heavy = [
        part
        for part in msg.walk()
        if not part.is_multipart()
        and (
            part.get_content_maintype() not in ("text", "message")
            or len(str(part.get_payload())) > MAX_SCANNED_TEXT
        )
    ]
    if not heavy:
        return msg
    light = copy.deepcopy(msg)
    for part in light.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() not in ("text", "message"):
            part.set_payload("")
        else:
            payload = part.get_payload()
            if isinstance(payload, str) and len(payload) > MAX_SCANNED_TEXT:
                part.set_payload(payload[:MAX_SCANNED_TEXT])
    return light


def read_flufl(msg: Message) -> BounceReport | None:
    """GNU Mailman's detectors, in their own order; None when none recognises the message."""
    try:
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # pragma: no cover - a declared requirement
        return None
    msg = _lightened(msg)
    for detector in _DETECTORS:
        try:
            temporary, permanent = detector().process(msg)
        except Exception:
            log.debug("flufl.bounce %s failed", detector.__name__, exc_info=True)
            continue
        if not (temporary or permanent):
            continue
        recipients: list[BouncedRecipient] = []
        for raw_address, action in [(a, "failed") for a in sorted(permanent)] + [
            (a, "delayed") for a in sorted(temporary - permanent)
        ]:
            text = (
                raw_address.decode("utf-8", "replace") if isinstance(raw_address, bytes) else str(raw_address)
            )
            address = _clean_address(text)
            if address and address not in {r.address for r in recipients}:
                recipients.append(BouncedRecipient(address, "", action))
        if recipients:
            return BounceReport(
                recipients, any(r.permanent for r in recipients), detector=f"flufl:{detector.__name__}"
            )
    return None


# ---------------------------------------------------------------- our own patterns
