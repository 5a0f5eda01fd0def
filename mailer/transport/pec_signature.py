"""Is a PEC receipt's S/MIME signature genuine? OpenSSL (the `openssl smime` command the inbound reader
already uses; cryptography has no PKCS#7 verification) checks the signature over the content and chains
the signer to the trust store at the time the receipt speaks of. Pure function over bytes: no database.

Outcomes (`SignatureCheck.status`): trusted | untrusted (signer not chained to the store) | expired |
not-yet-valid (a certificate of the chain outside its validity at that time) | invalid (the signature does
not hold over the content, or cannot be read) | unsigned.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

# Reasons shown with a «sospetta» receipt, by status.
REASONS = {
    "untrusted": "firmatario non attendibile (certificato non nell'archivio dei gestori PEC)",
    "expired": "certificato scaduto alla data della ricevuta",
    "not-yet-valid": "certificato non ancora valido alla data della ricevuta",
    "invalid": "firma non valida (il contenuto non corrisponde alla firma)",
    "unsigned": "ricevuta senza firma S/MIME",
}


@dataclass
class SignatureCheck:
    """What the signature check found."""

    status: str
    signer_subject: str = ""
    signer_sha256: str = ""
    detail: str = ""  # OpenSSL's own words, for the log

    @property
    def reason(self) -> str:
        """The Italian reason when the receipt cannot be trusted ('' when it can)."""
        return REASONS.get(self.status, "")


def certificate_facts(cert: x509.Certificate) -> dict:
    """Subject, issuer, serial, validity (naive UTC), SHA-256 fingerprint, CA or not."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.replace(tzinfo=None),
        "not_after": cert.not_valid_after_utc.replace(tzinfo=None),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "is_ca": bool(is_ca),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def _openssl(args: list[str], raw: bytes, timeout: float) -> subprocess.CompletedProcess | None:
    """Run `openssl smime -verify …` on the message; None when OpenSSL is missing or hangs."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    try:
        return subprocess.run(
            [binary, "smime", "-verify", "-out", "/dev/null", *args],
            input=raw,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def signer_certificate(raw: bytes) -> x509.Certificate | None:
    """The certificate of the (first) signer of an S/MIME message, found by the SignerInfo's issuer and
    serial (or key identifier) among the certificates the signature carries; None when there is none."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    blob = None
    for part in msg.walk():
        if part.get_content_type() in (
            "application/pkcs7-signature",
            "application/x-pkcs7-signature",
            "application/pkcs7-mime",
            "application/x-pkcs7-mime",
        ):
            blob = part.get_payload(decode=True)
            break
    if not blob:
        return None
    try:
        signed = cms.ContentInfo.load(blob)["content"]
        sid = signed["signer_infos"][0]["sid"]
        for choice in signed["certificates"] or []:
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number":
                found = (
                    cert.serial_number == sid.chosen["serial_number"].native
                    and cert.issuer == sid.chosen["issuer"]
                )
            else:
                found = cert.key_identifier == sid.chosen.native
            if found:
                return x509.load_der_x509_certificate(cert.dump())
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def check_pec_signature(
    raw: bytes, trusted_pem: str, at: datetime | None, integrity: str | None = None, timeout: float = 20.0
) -> SignatureCheck:
    """Check a signed receipt: the signature over its content, then the signer's chain to `trusted_pem`
    (PEM certificates: the providers' CAs or their signing certificates themselves) with validity dates
    taken at `at` (naive UTC: the time the receipt certifies; now when None). Only the store is trusted:
    never the system's CA list (a public CA's e-mail certificate is not a PEC provider).

    `integrity`: the reader's own `openssl smime -verify -noverify` outcome ('verified' | 'failed'), when
    it already ran; None checks it here."""
    if integrity is None:
        result = _openssl(["-noverify"], raw, timeout)
        integrity = "verified" if result is not None and result.returncode == 0 else "failed"
    if integrity != "verified":
        return SignatureCheck("invalid")
    signer = signer_certificate(raw)
    subject = signer.subject.rfc4514_string() if signer is not None else ""
    sha = signer.fingerprint(hashes.SHA256()).hex() if signer is not None else ""
    if not trusted_pem.strip():
        return SignatureCheck("untrusted", subject, sha, "archivio dei certificati vuoto")
    # The chain, to the store only, at the receipt's time. -partial_chain: a provider's signing certificate
    # may itself be the trust anchor; -purpose any: providers' certificates carry various key usages, the
    # store is what decides.
    with tempfile.TemporaryDirectory(prefix="recapito-pec-") as work:
        store = Path(work) / "store.pem"
        store.write_text(trusted_pem)
        moment = (at or datetime.now(UTC).replace(tzinfo=None)).replace(tzinfo=UTC)
        result = _openssl(
            [
                "-CAfile",
                str(store),
                "-no-CApath",
                "-no-CAstore",
                "-partial_chain",
                "-purpose",
                "any",
                "-attime",
                str(int(moment.timestamp())),
            ],
            raw,
            timeout,
        )
    if result is None:
        return SignatureCheck("invalid", subject, sha, "openssl non disponibile")
    if result.returncode == 0:
        return SignatureCheck("trusted", subject, sha)
    detail = result.stderr.decode("utf-8", "replace")
    if "certificate has expired" in detail:
        status = "expired"
    elif "certificate is not yet valid" in detail:
        status = "not-yet-valid"
    else:
        status = "untrusted"
    return SignatureCheck(status, subject, sha, detail[-500:])
