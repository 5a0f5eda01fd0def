"""The one text search of the lists: a case-insensitive substring match, the user's text taken literally."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, ignoring case; `%`, `_` and the escape character match only themselves."""
    return column.icontains(text, autoescape=True)


def matches_any(columns: Iterable[Any], text: str) -> ColumnElement[bool]:
    """Any of `columns` contains `text` (see `contains`)."""
    return or_(*(contains(column, text) for column in columns))
