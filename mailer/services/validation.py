"""Validation of Italian master data: P.IVA, codice fiscale, e-mail, province codes, PEC detection.

Every check returns the normalised value or raises `InvalidValue` with a message in Italian that can
be shown next to the field (or next to the line of an imported file).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.it import codicefiscale, iva

from ..reference import PEC_DOMAINS


class InvalidValue(ValueError):
    """A value that does not pass validation; str(exc) is an Italian message for the user."""


# Sigle automobilistiche of the Italian provinces and metropolitan cities, plus the historical
# Sardinian ones still found in ERP data (CI, VS, OG, OT) and EE for addresses abroad.
PROVINCE_CODES: frozenset[str] = frozenset(
    [
        "AG",
        "AL",
        "AN",
        "AO",
        "AP",
        "AQ",
        "AR",
        "AT",
        "AV",
        "BA",
        "BG",
        "BI",
        "BL",
        "BN",
        "BO",
        "BR",
        "BS",
        "BT",
        "BZ",
        "CA",
        "CB",
        "CE",
        "CH",
        "CL",
        "CN",
        "CO",
        "CR",
        "CS",
        "CT",
        "CZ",
        "EN",
        "FC",
        "FE",
        "FG",
        "FI",
        "FM",
        "FR",
        "GE",
        "GO",
        "GR",
        "IM",
        "IS",
        "KR",
        "LC",
        "LE",
        "LI",
        "LO",
        "LT",
        "LU",
        "MB",
        "MC",
        "ME",
        "MI",
        "MN",
        "MO",
        "MS",
        "MT",
        "NA",
        "NO",
        "NU",
        "OR",
        "PA",
        "PC",
        "PD",
        "PE",
        "PG",
        "PI",
        "PN",
        "PO",
        "PR",
        "PT",
        "PU",
        "PV",
        "PZ",
        "RA",
        "RC",
        "RE",
        "RG",
        "RI",
        "RM",
        "RN",
        "RO",
        "SA",
        "SI",
        "SO",
        "SP",
        "SR",
        "SS",
        "SU",
        "SV",
        "TA",
        "TE",
        "TN",
        "TO",
        "TP",
        "TR",
        "TS",
        "TV",
        "UD",
        "VA",
        "VB",
        "VC",
        "VE",
        "VI",
        "VR",
        "VT",
        "VV",
        "CI",
        "VS",
        "OG",
        "OT",
        "EE",
    ]
)


def normalize_vat_number(value: str, country: str = "IT") -> str:
    """Check an Italian P.IVA (11 digits with check digit); foreign VAT numbers are only trimmed."""
    value = (value or "").strip().replace(" ", "").replace(".", "").upper()
    if not value:
        return ""
    if (country or "IT").upper() != "IT":
        if len(value) > 20:
            raise InvalidValue("Partita IVA estera troppo lunga (al massimo 20 caratteri).")
        return value
    if value.startswith("IT"):
        value = value[2:]
    if not value.isdigit():
        raise InvalidValue("La partita IVA deve contenere solo cifre.")
    if len(value) != 11:
        raise InvalidValue(f"La partita IVA deve avere 11 cifre (ne ha {len(value)}).")
    try:
        return iva.validate(value)
    except InvalidChecksum:
        raise InvalidValue("Partita IVA non valida: la cifra di controllo non torna.") from None
    except InvalidComponent:
        raise InvalidValue(
            "Partita IVA non valida: le cifre 8-10 non sono il codice di un ufficio IVA."
        ) from None
    except ValidationError:
        raise InvalidValue("Partita IVA non valida.") from None


def normalize_tax_code(value: str, country: str = "IT") -> str:
    """Check a codice fiscale: 16 characters for people, or 11 digits (like a P.IVA) for companies."""
    value = (value or "").strip().replace(" ", "").upper()
    if not value:
        return ""
    if (country or "IT").upper() != "IT":
        if len(value) > 20:
            raise InvalidValue("Codice fiscale estero troppo lungo (al massimo 20 caratteri).")
        return value
    if value.isdigit():
        if len(value) != 11:
            raise InvalidValue("Il codice fiscale numerico deve avere 11 cifre.")
        try:
            return iva.validate(value)
        except ValidationError:
            raise InvalidValue(
                "Codice fiscale numerico non valido: la cifra di controllo non torna."
            ) from None
    if len(value) != 16:
        raise InvalidValue(f"Il codice fiscale deve avere 16 caratteri (ne ha {len(value)}).")
    try:
        return codicefiscale.validate(value)
    except InvalidChecksum:
        raise InvalidValue("Codice fiscale non valido: il carattere di controllo non torna.") from None
    except (InvalidFormat, InvalidLength, InvalidComponent):
        raise InvalidValue("Codice fiscale non valido: formato errato (es. RSSMRA80A01H501U).") from None
    except ValidationError:
        raise InvalidValue("Codice fiscale non valido.") from None


def normalize_email(value: str) -> str:
    """Check the syntax of an e-mail address (no DNS lookup) and return it normalised ('' stays '')."""
    value = (value or "").strip()
    if not value:
        return ""
    if value.count("@") != 1:
        raise InvalidValue("Indirizzo e-mail non valido: deve contenere una sola @.")
    local, _, domain = value.partition("@")
    if not local:
        raise InvalidValue("Indirizzo e-mail non valido: manca la parte prima della @.")
    if not domain:
        raise InvalidValue("Indirizzo e-mail non valido: manca il dominio dopo la @.")
    if " " in value:
        raise InvalidValue("Indirizzo e-mail non valido: contiene spazi.")
    if "." not in domain:
        raise InvalidValue(
            "Indirizzo e-mail non valido: il dominio deve contenere un punto (es. azienda.it)."
        )
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidValue("Indirizzo e-mail non valido: controlla i caratteri e il dominio.") from None
    # Keep the local part as typed; lower-case the domain.
    return f"{result.local_part}@{result.domain.lower()}"


def normalize_province(value: str, country: str = "IT") -> str:
    """Check an Italian province code (sigla, two letters)."""
    value = (value or "").strip().upper()
    if not value:
        return ""
    if (country or "IT").upper() != "IT":
        return value[:2]
    if value not in PROVINCE_CODES:
        raise InvalidValue(f"Sigla di provincia sconosciuta: «{value}» (usa due lettere, es. MI, RM, TO).")
    return value


def pec_domain(email: str) -> str | None:
    """The known PEC provider domain an address belongs to (the domain or a parent of it), or None."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    for known in _PEC_SET_SORTED:
        if domain == known or domain.endswith("." + known):
            return known
    return None


def is_pec_address(email: str) -> bool:
    """True when the address is on a known PEC provider's domain or one of its sub-domains."""
    return pec_domain(email) is not None


# Longest first, so the most specific known domain is reported.
_PEC_SET_SORTED = sorted({d.lower() for d in PEC_DOMAINS}, key=len, reverse=True)


def mask_email(address: str) -> str:
    """m***o@example.com: enough to recognise one's address, not to harvest it."""
    local, _, domain = (address or "").partition("@")
    if len(local) <= 2:
        return f"{local[:1]}***@{domain}"
    return f"{local[0]}***{local[-1]}@{domain}"
