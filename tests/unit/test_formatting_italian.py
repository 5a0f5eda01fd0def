"""Italian plurals, sizes with a decimal comma, dates typed dd/mm/yyyy (ISO accepted)."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.formatting import DateInputError, it_size, parse_it_date, plural


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, "0 destinatari esclusi"),
        (1, "1 destinatario escluso"),
        (2, "2 destinatari esclusi"),
        (1234, "1.234 destinatari esclusi"),
        (None, "0 destinatari esclusi"),
    ],
)
def test_plural(n, expected):
    """One form for one, the other for every other count; thousands with a dot."""
    assert plural(n, "destinatario escluso", "destinatari esclusi") == expected


def test_plural_words_only():
    """number=False gives the words, for markup that wraps the number itself."""
    assert plural(1, "documento", "documenti", number=False) == "documento"
    assert plural(3, "documento", "documenti", number=False) == "documenti"


@pytest.mark.parametrize(
    "size, expected",
    [
        (0, "0 byte"),
        (850, "850 byte"),
        (1024, "1,0 kB"),
        (12_600, "12,3 kB"),
        (1_468_006, "1,4 MB"),
        (250 * 1048576, "250 MB"),
        (3 * 1073741824, "3,0 GB"),
        (None, ""),
    ],
)
def test_it_size(size, expected):
    """Decimal comma, one decimal below 100."""
    assert it_size(size) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("31/01/2027", date(2027, 1, 31)),
        ("1/2/2027", date(2027, 2, 1)),
        ("05.03.2027", date(2027, 3, 5)),
        ("05-03-2027", date(2027, 3, 5)),
        ("2027-03-05", date(2027, 3, 5)),
        (" 29/02/2028 ", date(2028, 2, 29)),
        ("", None),
        (None, None),
    ],
)
def test_parse_it_date(text, expected):
    """dd/mm/yyyy (with / . or -) and ISO; empty is None."""
    assert parse_it_date(text, "Dal") == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("01/31/2027", "Dal: «01/31/2027» non è una data esistente."),  # an American month/day
        ("29/02/2027", "Dal: «29/02/2027» non è una data esistente."),
        ("31-1-27", "Dal: scrivi la data come gg/mm/aaaa, es. 31/01/2027."),
        ("ieri", "Dal: scrivi la data come gg/mm/aaaa, es. 31/01/2027."),
    ],
)
def test_parse_it_date_errors_name_the_field(text, message):
    """An Italian message that names the field."""
    with pytest.raises(DateInputError) as caught:
        parse_it_date(text, "Dal")
    assert str(caught.value) == message
