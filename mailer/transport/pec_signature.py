"""Is a PEC receipt's S/MIME signature genuine? OpenSSL (the `openssl smime` command the inbound reader
already uses; cryptography has no PKCS#7 verification) checks the signature over the content and chains
the signer to the trust store at the time the receipt speaks of. Pure function over bytes: no database.

Outcomes (`SignatureCheck.status`): trusted | untrusted (signer not chained to the store) | expired |
not-yet-valid (a certificate of the chain outside its validity at that time) | invalid (the signature does
not hold over the content, or cannot be read) | unsigned.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.replace(tzinfo=None),
        "not_after": cert.not_valid_after_utc.replace(tzinfo=None),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(), "is_ca": bool(is_ca),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def _openssl(args: list[str], raw: bytes, timeout: float) -> subprocess.CompletedProcess | None:
    """Run `openssl smime -verify …` on the message; None when OpenSSL is missing or hangs."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    try:
        return subprocess.run([binary, "smime", "-verify", "-out", "/dev/null", *args], input=raw,
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_pec_signature(raw: bytes, trusted_pem: str, at: datetime | None, timeout: float = 20.0) -> SignatureCheck:
    """Check a signed receipt: the signature over its content, then the signer's chain to `trusted_pem`
    (PEM certificates: the providers' CAs or their signing certificates themselves) with validity dates
    taken at `at` (naive UTC: the time the receipt certifies; now when None). Only the store is trusted:
    never the system's CA list (a public CA's e-mail certificate is not a PEC provider)."""
    with tempfile.TemporaryDirectory(prefix="recapito-pec-") as work:
        signer_file = Path(work) / "signer.pem"
        # 1. Integrity alone (-noverify): does the signature hold over these bytes? Also gives the signer.
        result = _openssl(["-noverify", "-signer", str(signer_file)], raw, timeout)
        if result is None or result.returncode != 0:
            detail = (result.stderr.decode("utf-8", "replace")[-500:] if result is not None else "openssl non disponibile")
            return SignatureCheck("invalid", detail=detail)
        subject = sha = ""
        try:
            signer = x509.load_pem_x509_certificates(signer_file.read_bytes())[0]
            subject, sha = signer.subject.rfc4514_string(), signer.fingerprint(hashes.SHA256()).hex()
        except (OSError, ValueError, IndexError):
            pass
        if not trusted_pem.strip():
            return SignatureCheck("untrusted", subject, sha, "archivio dei certificati vuoto")
        # 2. The chain, to the store only, at the receipt's time. -partial_chain: a provider's signing
        # certificate may itself be the trust anchor; -purpose any: providers' certificates carry
        # various key usages, the store is what decides.
        store = Path(work) / "store.pem"
        store.write_text(trusted_pem)
        moment = (at or datetime.now(timezone.utc).replace(tzinfo=None)).replace(tzinfo=timezone.utc)
        result = _openssl(["-CAfile", str(store), "-no-CApath", "-no-CAstore", "-partial_chain", "-purpose", "any",
                           "-attime", str(int(moment.timestamp()))], raw, timeout)
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
