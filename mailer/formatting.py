"""Italian formatting of dates and amounts (dd/mm/yyyy, 1.234,56 €)."""

from __future__ import annotations

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


def it_datetime(value) -> str:
    """Format a UTC datetime as local dd/mm/yyyy HH:MM."""
    if not value:
        return ""
    return to_local(value).strftime("%d/%m/%Y %H:%M")
