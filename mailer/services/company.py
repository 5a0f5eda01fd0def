"""Company data (name, address, P.IVA, logo) used by every PDF and e-mail."""

from __future__ import annotations

from stdnum.exceptions import ValidationError
from stdnum.it import codicefiscale, iva

from ..models import Company
from .audit import audit
from .blobs import store_blob

LOGO_MAX_BYTES = 2 * 1024 * 1024
COMPANY_FIELDS = (
    "name",
    "address",
    "zip_code",
    "city",
    "province",
    "vat_number",
    "tax_code",
    "phone",
    "email",
    "website",
    "iban",
)
# Sending rules, shown as checkboxes: approval by someone other than the preparer (approval.py), and the
# soft-spam exception for commercial campaigns to existing customers (campaigns.py).
COMPANY_FLAGS = ("four_eyes", "soft_spam_allowed")


def logo_content_type(data: bytes) -> str | None:
    """'image/png' or 'image/jpeg' when the bytes really are one (by content, not by name), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and b"IEND" in data[-16:]:
        return "image/png"
    if data.startswith(b"\xff\xd8\xff") and data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "image/jpeg"
    return None


def normalise_vat(value: str) -> str:
    """Compact an Italian P.IVA ('IT 01234567890' -> '01234567890'); raise ValueError when invalid."""
    value = (value or "").strip().upper()
    if value.startswith("IT"):
        value = value[2:]
    try:
        return iva.validate(value)
    except ValidationError as exc:
        raise ValueError(
            "Partita IVA non valida: servono 11 cifre con la cifra di controllo corretta."
        ) from exc


def form_values(company: Company) -> dict:
    """The company as the form shows it: text fields ('' for missing) and the two flags."""
    values: dict = {k: getattr(company, k) or "" for k in COMPANY_FIELDS}
    values.update({k: bool(getattr(company, k)) for k in COMPANY_FLAGS})
    return values


def _submitted_flag(form, name: str) -> bool | None:
    """A checkbox of the form: the page sends a hidden «0» and, when ticked, «1»; absent means «not sent»."""
    sent = form.getlist(name) if hasattr(form, "getlist") else [form[name]] if name in form else []
    return ("1" in sent or "on" in sent) if sent else None


def validate_company(form: dict, company: Company | None = None) -> tuple[dict, dict]:
    """Check the submitted fields; return (clean values, errors by field).

    A flag missing from the form keeps the company's current value (a safety rule such as the four-eyes
    check must not switch off because a client left the field out)."""
    values = {k: (form.get(k) or "").strip() for k in COMPANY_FIELDS}
    for flag in COMPANY_FLAGS:
        sent = _submitted_flag(form, flag)
        if sent is not None:
            values[flag] = sent
        elif company is not None:
            values[flag] = bool(getattr(company, flag))
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "La ragione sociale è obbligatoria."
    if values["vat_number"]:
        try:
            values["vat_number"] = normalise_vat(values["vat_number"])
        except ValueError as exc:
            errors["vat_number"] = str(exc)
    if values["tax_code"]:
        code = values["tax_code"].upper().replace(" ", "")
        if code.isdigit():
            valid = iva.is_valid(code)
        else:
            valid = codicefiscale.is_valid(code)
        if not valid:
            errors["tax_code"] = (
                "Codice fiscale non valido (16 caratteri per le persone, 11 cifre per le società)."
            )
        values["tax_code"] = code
    values["province"] = values["province"].upper()
    if values["province"] and (len(values["province"]) != 2 or not values["province"].isalpha()):
        errors["province"] = "Sigla di provincia di due lettere (es. MI)."
    if values["zip_code"] and (len(values["zip_code"]) != 5 or not values["zip_code"].isdigit()):
        errors["zip_code"] = "Il CAP ha cinque cifre."
    if values["email"] and "@" not in values["email"]:
        errors["email"] = "Indirizzo e-mail non valido."
    values["iban"] = values["iban"].replace(" ", "").upper()
    return values, errors


def update_company(company: Company, values: dict) -> dict:
    """Apply clean values (the caller commits); returns the changes audited."""
    changes = {k: [getattr(company, k), v] for k, v in values.items() if getattr(company, k) != v}
    for key, value in values.items():
        setattr(company, key, value)
    if changes:
        audit("company.update", company, changes=changes)
    return changes


def set_logo(company: Company, data: bytes) -> str:
    """Store a PNG/JPEG logo (checked by content) and point the company at it; raises ValueError."""
    if not data:
        raise ValueError("Nessun file ricevuto.")
    if len(data) > LOGO_MAX_BYTES:
        raise ValueError("Il logo supera 2 MB: usa un'immagine più piccola.")
    content_type = logo_content_type(data)
    if content_type is None:
        raise ValueError("Il logo deve essere un'immagine PNG o JPEG (il contenuto del file non lo è).")
    sha = store_blob(data, content_type)
    company.logo_sha256 = sha
    audit("company.logo", company, sha256=sha, content_type=content_type, size=len(data))
    return sha


def remove_logo(company: Company) -> None:
    """Forget the logo (the blob stays: old PDFs may reference it)."""
    company.logo_sha256 = None
    audit("company.logo_removed", company)
