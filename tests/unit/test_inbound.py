"""Reading returned messages: PEC receipts, bounces, hostile input (pure functions, no database)."""

from __future__ import annotations

from datetime import datetime

import pytest

from mailer.transport.imap import encode_folder, is_loopback
from mailer.transport.inbound import parse_daticert, read_message, strip_id
from tests.support.receipts import (
    GOPEC_ERRORE,
    MALFORMED,
    OCA_ACCETTAZIONE,
    OCA_CONSEGNA,
    OCA_ENVELOPE,
    adapt_receipt,
    daticert_of,
    dsn_bounce,
    exchange_ndr,
    forged_receipt,
    qmail_bounce,
    sample,
)

MID = "<1700000000.1.2.rcp7@azienda.example>"


@pytest.mark.parametrize(
    "name, kind, verified",
    [
        (OCA_ACCETTAZIONE, "accettazione", True),
        (OCA_CONSEGNA, "avvenuta-consegna", True),
        ("accettazione.eml", "accettazione", False),
        (GOPEC_ERRORE, "errore-consegna", False),
    ],
)
def test_real_receipts_are_recognised(samples_dir, name, kind, verified):
    """Type from X-Ricevuta and daticert, original id, and whether the provider's signature holds."""
    info = read_message(sample(samples_dir, name))
    assert (info.kind, info.receipt_type, info.signature_verified) == ("pec-receipt", kind, verified)
    assert info.referenced_message_id and "<" not in info.referenced_message_id


def test_stray_text_in_daticert_is_tolerated(samples_dir):
    """consegna.eml has a stray 'a' after </risposte>: still read, with the errore-esteso."""
    xml = daticert_of(sample(samples_dir, GOPEC_ERRORE))
    assert "</risposte>a" in xml
    data = parse_daticert(xml.encode())
    assert data["tipo"] == "errore-consegna" and data["errore"] == "no-dest"
    assert data["errore_esteso"] == "5.1.1 - FAKE Pec S.p.A. - indirizzo non valido"
    assert data["data"] == datetime(2024, 11, 15, 17, 21, 3)


def test_envelope_is_not_a_receipt(samples_dir):
    """A busta di trasporto is an incoming PEC, not a receipt of ours."""
    info = read_message(sample(samples_dir, OCA_ENVELOPE))
    assert info.kind == "other" and info.receipt_type == "" and not info.signature_verified


def test_adapted_receipt_points_at_our_message(samples_dir):
    """Header and daticert rewritten consistently; the old signature no longer holds."""
    info = read_message(adapt_receipt(sample(samples_dir, OCA_CONSEGNA), MID, consegna="x@pec.example"))
    assert info.referenced_message_id == strip_id(MID) and not info.problems
    assert info.recipients == ["x@pec.example"] and info.signature_status == "failed"


@pytest.mark.parametrize(
    "builder, reason_part",
    [
        (lambda: dsn_bounce(MID, "r@x.example"), "User unknown"),
        (lambda: qmail_bounce(MID, "r@x.example"), "550 5.1.1"),
        (lambda: exchange_ndr(MID, "r@x.example"), "RecipientNotFound"),
    ],
)
def test_bounces_name_the_original_message(builder, reason_part):
    """RFC 3464, qmail and Exchange: permanent, with the reason and the recipient."""
    info = read_message(builder())
    assert (info.kind, info.receipt_type, info.referenced_message_id) == (
        "bounce",
        "permanent",
        strip_id(MID),
    )
    assert reason_part in info.reason and "r@x.example" in info.recipients


def test_delayed_dsn_is_temporary_and_success_dsn_is_not_a_bounce():
    """Action delayed/4.x.x → temporary; Action delivered → not a bounce at all."""
    assert (
        read_message(dsn_bounce(MID, "r@x.example", status="4.4.1", action="delayed")).receipt_type
        == "temporary"
    )
    assert read_message(dsn_bounce(MID, "r@x.example", status="2.0.0", action="delivered")).kind == "other"


def test_forged_and_malformed():
    """X-Ricevuta from a private address is a problem; broken input never raises."""
    assert any("gestore PEC" in p for p in read_message(forged_receipt(MID)).problems)
    for raw in MALFORMED:
        info = read_message(raw)
        assert info.malformed and info.problems


def test_imap_helpers():
    """Folder names in modified UTF-7, quoted; loopback detection for the plain-IMAP exception."""
    assert encode_folder("INBOX") == '"INBOX"'
    assert encode_folder("Già lette & co") == '"Gi&AOA- lette &- co"'
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("imap.pec.example") and not is_loopback("10.0.0.1")
