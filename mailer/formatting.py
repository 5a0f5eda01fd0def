"""Italian formatting of dates and amounts (dd/mm/yyyy, 1.234,56 €)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def it_number(value, decimals: int = 2) -> str:
    """Format a number Italian style: 1.234,56."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    quant = Decimal(1).scaleb(-decimals) if decimals else Decimal(1)
    number = number.quantize(quant, rounding=ROUND_HALF_UP)
    text = f"{number:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def it_money(value, currency: str = "EUR") -> str:
    """Format an amount with its currency: 1.234,56 €."""
    if value is None or value == "":
        return ""
    symbol = "€" if currency in ("EUR", "", None) else currency
    return f"{it_number(value, 2)} {symbol}"


def it_date(value) -> str:
    """Format a date as dd/mm/yyyy (accepts date, datetime or ISO string)."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime("%d/%m/%Y")


def to_local(value: datetime) -> datetime:
    """Convert a naive UTC datetime from the database to Italian local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ROME)


def local_day(value: datetime) -> date:
    """The Italian calendar day of a naive UTC datetime: from 23:00 UTC (22:00 in summer) it is the next day."""
    return to_local(value).date()


def it_datetime(value) -> str:
    """Format a UTC datetime as local dd/mm/yyyy HH:MM."""
    if not value:
        return ""
    return to_local(value).strftime("%d/%m/%Y %H:%M")


def plural(count, singular: str, plural_form: str, number: bool = True) -> str:
    """«1 destinatario escluso», «2 destinatari esclusi», «1.234 documenti» (number=False: the words only)."""
    try:
        n = int(count or 0)
    except (TypeError, ValueError):
        n = 0
    words = singular if n == 1 else plural_form
    return f"{it_number(n, 0)} {words}" if number else words


def it_size(value) -> str:
    """A size in bytes, Italian style: «850 byte», «12,3 kB», «1,4 MB» (1 kB = 1024 byte)."""
    if value is None or value == "":
        return ""
    size = float(value)
    if size < 1024:
        return f"{it_number(size, 0)} byte"
    for unit in ("kB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{it_number(size, 1 if size < 100 else 0)} {unit}"
    return ""  # not reached: the loop returns at GB


class DateInputError(ValueError):
    """A date typed in a form that is not a date; the message is Italian and names the field."""


def parse_it_date(value, field: str) -> date | None:
    """A date typed as dd/mm/yyyy (also d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy) or ISO yyyy-mm-dd; None when empty.

    Raises DateInputError («Data di consenso: scrivi la data come gg/mm/aaaa, es. 31/01/2027»)."""
    text = str(value or "").strip()
    if not text:
        return None
    parts = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    try:
        if parts:
            return date(int(parts.group(3)), int(parts.group(2)), int(parts.group(1)))
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    except ValueError:
        raise DateInputError(f"{field}: «{text[:20]}» non è una data esistente.") from None
    raise DateInputError(f"{field}: scrivi la data come gg/mm/aaaa, es. 31/01/2027.")
