"""One e-mail check for the whole product: mailer.services.validation.normalize_email (email-validator,
no DNS). The paths that disagreed follow the stricter, correct one (issue 16)."""

from __future__ import annotations

import re

import pytest

from mailer.services.validation import InvalidValue, normalize_email

# The pattern the sending settings of a document type used (mail_templates._EMAIL_RE): it let through
# addresses no mail server accepts. normalize_email refuses them.
LOOSE_PATTERN = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


@pytest.mark.parametrize(
    "address",
    [
        "mario..rossi@example.com",
        ".mario@example.com",
        "mario.@example.com",
        "mario@-example.com",
        "mario@example..com",
        "mario@exa_mple.com",
        "mario(nota)@example.com",
    ],
)
def test_addresses_the_loose_pattern_accepted_are_refused(address):
    """Where the checks disagreed, the stricter one wins: an Italian message instead of a bounce later."""
    assert LOOSE_PATTERN.match(address)
    with pytest.raises(InvalidValue) as info:
        normalize_email(address)
    assert str(info.value).startswith("Indirizzo e-mail non valido")


def test_normalised_domain_lower_case_local_part_as_written():
    """The domain is lower-cased, the local part kept (the API used to lower-case it all)."""
    assert normalize_email("  Mario.Rossi@Example.COM ") == "Mario.Rossi@example.com"
    assert normalize_email("") == ""


@pytest.mark.parametrize(
    "address, message",
    [
        ("mario@@example.com", "deve contenere una sola @"),
        ("@example.com", "manca la parte prima della @"),
        ("mario@", "manca il dominio dopo la @"),
        ("mario rossi@example.com", "contiene spazi"),
        ("mario@example", "il dominio deve contenere un punto"),
    ],
)
def test_messages_say_what_is_wrong(address, message):
    """Each common mistake has its own Italian message (shown next to the field or the imported line)."""
    with pytest.raises(InvalidValue) as info:
        normalize_email(address)
    assert message in str(info.value)
