"""Which PEC receipts may change a delivery: the trust store of providers' certificates (managed by the
administrator, shipped empty), the provider domains of each PEC account, the check of one receipt, and
the confirmation by a person of a receipt kept as «sospetta»."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..extensions import db
from ..models import Delivery, MailAccount, PecTrustedCertificate, utcnow
from ..reference import PEC_PROVIDERS
from ..transport.inbound import InboundMessage, read_message
from ..transport.pec_signature import SignatureCheck, certificate_facts, check_pec_signature
from .audit import audit

MAX_CERT_FILE = 1024 * 1024
# Receipts issued by the sending account's own provider; the others (consegna, mancata consegna, presa in
# carico) come from the recipient's provider, which may be any accredited one.
SENDER_SIDE_TYPES = ("accettazione", "non-accettazione", "rilevazione-virus", "preavviso-errore-consegna")


class TrustStoreError(ValueError):
    """An uploaded file that holds no usable certificate (Italian message)."""


# ---------------------------------------------------------------- trust store


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM file (one or more) or of a DER file; TrustStoreError otherwise."""
    if not data or not data.strip():
        raise TrustStoreError("Il file è vuoto.")
    if len(data) > MAX_CERT_FILE:
        raise TrustStoreError("Il file è troppo grande per essere un certificato (oltre 1 MB).")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TrustStoreError(
            "Il file non contiene un certificato X.509 leggibile (servono PEM o DER)."
        ) from exc


def add_certificates(
    data: bytes, user=None
) -> tuple[list[PecTrustedCertificate], list[PecTrustedCertificate]]:
    """Add the file's certificates to the store: (added, already there). Audited; the caller commits."""
    added, present = [], []
    for cert in parse_certificates(data):
        facts = certificate_facts(cert)
        existing = db.session.scalar(
            db.select(PecTrustedCertificate).where(PecTrustedCertificate.sha256 == facts["sha256"])
        )
        if existing is not None:
            present.append(existing)
            continue
        row = PecTrustedCertificate(**facts, added_by_id=getattr(user, "id", None), added_at=utcnow())
        db.session.add(row)
        db.session.flush()
        audit(
            "pec_trust.add",
            row,
            subject=row.subject,
            issuer=row.issuer,
            sha256=row.sha256,
            not_after=row.not_after.isoformat(),
        )
        added.append(row)
    return added, present


def remove_certificate(row: PecTrustedCertificate) -> None:
    """Take a certificate out of the store (audited; receipts already applied stay as they are)."""
    audit("pec_trust.remove", row, subject=row.subject, sha256=row.sha256)
    db.session.delete(row)


def trusted_certificates() -> list[PecTrustedCertificate]:
    """The store, by subject."""
    return list(
        db.session.scalars(
            db.select(PecTrustedCertificate).order_by(PecTrustedCertificate.subject, PecTrustedCertificate.id)
        )
    )


def trusted_pem() -> str:
    """The whole store as one PEM bundle ('' when empty)."""
    return "".join(
        db.session.scalars(db.select(PecTrustedCertificate.pem).order_by(PecTrustedCertificate.id))
    )


# ---------------------------------------------------------------- provider domains


def provider_of(address: str) -> tuple[str, tuple[str, ...], tuple[str, ...], str] | None:
    """The known provider of a PEC mailbox (by its domain or a parent domain), or None."""
    domain = address.rpartition("@")[2].strip().lower()
    for provider in PEC_PROVIDERS:
        if any(domain == d or domain.endswith("." + d) for d in provider[1] + provider[2]):
            return provider
    return None


def suggested_system_domains(from_address: str) -> list[str]:
    """The certified-system domains to prefill for a PEC account ([] when its provider is not known)."""
    provider = provider_of(from_address)
    return list(provider[2]) if provider else []


def parse_domains(text: str) -> tuple[list[str], str]:
    """Domains from the form (one a line, or separated by commas/blanks): (clean list, error or '')."""
    domains: list[str] = []
    for token in text.replace(",", " ").split():
        token = token.strip().lower().lstrip("@")
        if token.startswith("posta-certificata@"):
            token = token.split("@", 1)[1]
        labels = token.split(".")
        if len(labels) < 2 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
        ):
            return [], f"«{token}» non è un dominio (es. pec.aruba.it)."
        if token not in domains:
            domains.append(token)
    return domains, ""


def account_system_domains(account: MailAccount | None) -> list[str]:
    """The domains whose certified system may speak for this account: its own list, else its provider's."""
    if account is None:
        return []
    own, _ = parse_domains(account.pec_system_domains or "")
    return own or suggested_system_domains(account.from_address or "")


def _all_system_domains() -> set[str]:
    """Every known provider's certified-system domains."""
    return {d for provider in PEC_PROVIDERS for d in provider[2]}


def _in_domains(address: str, domains) -> bool:
    """True when the address's domain is one of `domains` or a sub-domain of one."""
    domain = address.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


# ---------------------------------------------------------------- one receipt


@dataclass
class TrustVerdict:
    """The signature check and the reasons a receipt may not be applied ([] = genuine)."""

    check: SignatureCheck
    problems: list[str]


def check_receipt(raw: bytes, info: InboundMessage, delivery: Delivery | None) -> TrustVerdict:
    """Signature chained to the store at the receipt's time, and sender on the provider's domains."""
    if info.signature_status == "unsigned":
        check = SignatureCheck("unsigned")
    else:
        # The reader has checked the integrity already (openssl -noverify): only the chain is left.
        integrity = info.signature_status if info.signature_status in ("verified", "failed") else None
        check = check_pec_signature(raw, trusted_pem(), info.event_at, integrity)
    problems = [check.reason] if check.reason else []
    account = delivery.account if delivery is not None else None
    if account is not None:
        allowed = set(account_system_domains(account))
        if info.receipt_type not in SENDER_SIDE_TYPES:
            allowed |= _all_system_domains()
        if not allowed:
            problems.append(
                f"mittente non del gestore: l'account «{account.name}» non ha domini del gestore PEC "
                "(Amministrazione › Account di invio)"
            )
        elif not _in_domains(info.sender, allowed):
            problems.append(
                f"mittente non del gestore: «{info.sender}» non è del sistema PEC di "
                f"{', '.join(sorted(allowed))}"
            )
    return TrustVerdict(check, problems)


@dataclass
class CertifiedData:
    """What a receipt's daticert.xml certifies, for the delivery page."""

    tipo: str
    when: datetime | None
    mittente: str
    destinatari: list[str]
    consegna: list[str]
    gestore: str
    identificativo: str
    msgid: str
    errore: str


def certified_data(raw: bytes) -> CertifiedData | None:
    """The certified data of a stored receipt (None when it has no readable daticert.xml)."""
    dati = read_message(raw, check_signature=False).daticert
    if not dati:
        return None
    errore = dati["errore_esteso"] or (dati["errore"] if dati["errore"] not in ("", "nessuno") else "")
    return CertifiedData(
        tipo=dati["tipo"],
        when=dati["data"],
        mittente=dati["mittente"],
        destinatari=dati["destinatari"],
        consegna=dati["consegna"],
        gestore=dati["gestore"],
        identificativo=dati["identificativo"],
        msgid=dati["msgid"],
        errore=errore,
    )
