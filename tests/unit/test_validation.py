"""Validation of P.IVA, codice fiscale, e-mail, province codes and PEC detection."""

import pytest
from stdnum import luhn

from mailer.services.validation import (
    InvalidValue,
    is_pec_address,
    normalize_email,
    normalize_province,
    normalize_tax_code,
    normalize_vat_number,
    pec_domain,
)


def vat(body10: str) -> str:
    """A P.IVA with the right check digit."""
    return body10 + luhn.calc_check_digit(body10)


GOOD_VAT = vat("0123456001")


@pytest.mark.parametrize(
    "raw, expected",
    [
        (GOOD_VAT, GOOD_VAT),
        ("IT" + GOOD_VAT, GOOD_VAT),
        (" it " + GOOD_VAT[:5] + " " + GOOD_VAT[5:], GOOD_VAT),
        ("", ""),
    ],
)
def test_vat_number_accepted(raw, expected):
    """Valid P.IVA, with IT prefix and spaces, are normalised to 11 digits."""
    assert normalize_vat_number(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        (GOOD_VAT[:-1] + str((int(GOOD_VAT[-1]) + 1) % 10), "cifra di controllo"),
        ("1234567890", r"11 cifre \(ne ha 10\)"),
        ("0123456A017", "solo cifre"),
        (vat("0123456500"), "ufficio"),
    ],
)
def test_vat_number_rejected(raw, message):
    """Wrong check digit, length, letters or office code give an Italian message."""
    with pytest.raises(InvalidValue, match=message):
        normalize_vat_number(raw)


def test_foreign_vat_number_not_checked_as_italian():
    """A foreign party's VAT number is kept as given."""
    assert normalize_vat_number("DE123456789", "DE") == "DE123456789"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("rssmra80a01h501u", "RSSMRA80A01H501U"),
        (GOOD_VAT, GOOD_VAT),  # companies: codice fiscale = 11 digits
        ("", ""),
    ],
)
def test_tax_code_accepted(raw, expected):
    """People's 16-character codes and companies' numeric codes are accepted."""
    assert normalize_tax_code(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("RSSMRA80A01H501X", "carattere di controllo"),
        ("RSSMRA80A01H50", "16 caratteri"),
        ("12345678901", "cifra di controllo"),
    ],
)
def test_tax_code_rejected(raw, message):
    """Bad codici fiscali say why."""
    with pytest.raises(InvalidValue, match=message):
        normalize_tax_code(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Mario.Rossi@Azienda.IT", "Mario.Rossi@azienda.it"),
        ("  ufficio@studio.legalmail.it ", "ufficio@studio.legalmail.it"),
        ("", ""),
    ],
)
def test_email_accepted(raw, expected):
    """Valid addresses are trimmed and the domain lower-cased (no DNS lookup)."""
    assert normalize_email(raw) == expected


def test_email_needs_no_dns():
    """An address on a domain that does not exist passes the syntax check."""
    assert normalize_email("x@dominio-che-non-esiste-affatto-12345.it")


@pytest.mark.parametrize(
    "raw, message",
    [
        ("mario.rossi", "una sola @"),
        ("a@@b.it", "una sola @"),
        ("@azienda.it", "prima della @"),
        ("mario@", "dominio dopo la @"),
        ("mario rossi@azienda.it", "spazi"),
        ("mario@azienda", "punto"),
        ("mario@azi_enda.it", "controlla"),
    ],
)
def test_email_rejected(raw, message):
    """Bad addresses get an Italian reason."""
    with pytest.raises(InvalidValue, match=message):
        normalize_email(raw)


@pytest.mark.parametrize(
    "raw, expected", [("mi", "MI"), (" RM ", "RM"), ("SU", "SU"), ("EE", "EE"), ("", "")]
)
def test_province_accepted(raw, expected):
    """Italian province codes, upper-cased."""
    assert normalize_province(raw) == expected


@pytest.mark.parametrize("raw", ["XX", "MIL", "M1"])
def test_province_rejected(raw):
    """Unknown sigle are refused with the value in the message."""
    with pytest.raises(InvalidValue, match="Sigla di provincia sconosciuta"):
        normalize_province(raw)


@pytest.mark.parametrize(
    "address, domain",
    [
        ("ufficio@pec.it", "pec.it"),
        ("amministrazione@legalmail.it", "legalmail.it"),
        ("x@ACME.LEGALMAIL.IT", "legalmail.it"),  # sub-domain of a provider, any case
        ("x@cert.legalmail.it", "cert.legalmail.it"),  # the most specific known domain
        ("x@postecert.it", "postecert.it"),
        ("x@pec.aruba.it", "pec.aruba.it"),
        ("x@studio.arubapec.it", "arubapec.it"),
    ],
)
def test_pec_detected(address, domain):
    """Addresses on a known PEC domain or a sub-domain of one are PEC."""
    assert pec_domain(address) == domain
    assert is_pec_address(address)


@pytest.mark.parametrize(
    "address", ["x@gmail.com", "x@apec.it", "x@pec.it.example.com", "x@notlegalmail.it", "", "nonsense"]
)
def test_not_pec(address):
    """Look-alike domains are not PEC."""
    assert not is_pec_address(address)
