"""The PEC signature check on its own (no database): a test CA, receipts signed with cryptography's
PKCS#7 builder, and the trust store as a PEM string."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes

from mailer.services.pec_trust import TrustStoreError, parse_certificates
from mailer.transport.pec_signature import check_pec_signature, signer_certificate
from tests.support.pec_ca import make_ca, make_signer, replace_signature, signed_receipt
from tests.support.receipts import adapt_receipt

MID = "<1700000000.1.2.rcp7@azienda.example>"
WHEN = datetime(2026, 11, 30, 9, 0, 0)


@pytest.fixture(scope="module")
def provider():
    """A CA valid 2020-2040 and its signing certificate valid 2025-2027."""
    ca = make_ca(not_before=datetime(2020, 1, 1, tzinfo=UTC), days=365 * 20)
    return ca, make_signer(ca, not_before=datetime(2025, 1, 1, tzinfo=UTC), days=365 * 3)


def check(raw: bytes, store: bytes, at: datetime = WHEN) -> str:
    """The outcome's status."""
    return check_pec_signature(raw, store.decode(), at).status


def test_genuine(provider):
    """Chained to the CA in the store, valid at the receipt's time; the signer is named."""
    ca, signer = provider
    raw = signed_receipt(MID, signer)
    result = check_pec_signature(raw, ca.pem.decode(), WHEN)
    assert result.status == "trusted" and "posta-certificata@pec.gestore.example" in result.signer_subject
    assert signer_certificate(raw).fingerprint(hashes.SHA256()).hex() == result.signer_sha256


def test_forged_signature(provider):
    """A signature made over other content, pasted on this one."""
    ca, signer = provider
    forged = replace_signature(signed_receipt(MID, signer), signed_receipt("<altro@x>", signer))
    assert check(forged, ca.pem) == "invalid"


def test_tampered_body(provider):
    """daticert.xml changed after signing."""
    ca, signer = provider
    assert check(adapt_receipt(signed_receipt(MID, signer), "<altro@x>"), ca.pem) == "invalid"


def test_wrong_signer_and_empty_store(provider):
    """Another CA's certificate: not trusted; an empty store trusts nobody; the system's CAs never count."""
    ca, signer = provider
    intruder = make_signer(make_ca("Altra CA", "Altro S.p.A."))
    assert check(signed_receipt(MID, intruder), ca.pem) == "untrusted"
    assert check(signed_receipt(MID, signer), b"") == "untrusted"


def test_validity_at_the_receipt_time(provider):
    """Expired or not yet valid at the time the receipt certifies; valid then is valid for good."""
    ca, signer = provider
    raw = signed_receipt(MID, signer)
    assert check(raw, ca.pem, datetime(2029, 6, 1)) == "expired"
    assert check(raw, ca.pem, datetime(2024, 6, 1)) == "not-yet-valid"
    assert check(raw, ca.pem, datetime(2025, 6, 1)) == "trusted"


def test_signing_certificate_as_anchor(provider):
    """The provider's own signing certificate (not self-signed) is enough as the store."""
    _, signer = provider
    assert check(signed_receipt(MID, signer), signer.pem) == "trusted"


def test_certificate_files(provider):
    """PEM bundles and DER are read; anything else says what is wrong in Italian."""
    ca, signer = provider
    assert len(parse_certificates(ca.pem + signer.pem)) == 2
    assert parse_certificates(signer.der)[0].subject == signer.cert.subject
    for data, message in (
        (b"", "vuoto"),
        (b"ciao", "non contiene un certificato"),
        (b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n", "non contiene"),
        (b"x" * (1024 * 1024 + 1), "troppo grande"),
    ):
        with pytest.raises(TrustStoreError, match=message):
            parse_certificates(data)
