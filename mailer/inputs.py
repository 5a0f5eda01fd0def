"""What a request may carry into the database: ids an INTEGER column holds, text without NUL or lone surrogates.

SQLite stores anything; PostgreSQL refuses an id from 2³¹ on, a NUL in a text, and psycopg cannot
encode a lone surrogate (valid in JSON as "\\ud800", not valid Unicode). Each of these was a 500 on
PostgreSQL only. Ids are bounded where they are read (`db_id`, the `<int:…>` URL converter); texts are
checked once for every request (`bad_text`), before any view runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

DB_INT_MAX = 2**31 - 1  # the largest value of an INTEGER column (primary and foreign keys)
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def db_id(value: Any) -> int:
    """An id that an INTEGER column can hold (1..2³¹-1); ValueError otherwise.

    Use it as the `type=` of `request.args.get(...)`: an out-of-range value then falls back to the
    default, like any other non-number.
    """
    number = int(str(value).strip())
    if not 0 < number <= DB_INT_MAX:
        raise ValueError(f"id fuori intervallo: {number}")
    return number


def db_ids(values: Iterable[Any]) -> list[int]:
    """The values that are valid ids (see `db_id`), in order; the others are dropped."""
    ids = []
    for value in values:
        try:
            ids.append(db_id(value))
        except ValueError:
            continue
    return ids


def page_number(value: Any) -> int:
    """A page number for `type=`: 1..a million (beyond that no list has rows; an OFFSET must stay in range)."""
    number = int(str(value).strip())
    if not 0 < number <= 1_000_000:
        raise ValueError(f"pagina fuori intervallo: {number}")
    return number


def checks_own_text(view):
    """Mark a view that refuses NUL and lone surrogates itself, next to the field (e.g. the live filter count,
    which answers with the condition's error in place): the request-wide check leaves it alone."""
    view._checks_own_text = True
    return view


def bad_text(fields: Iterable[tuple[str, Any]]) -> tuple[str, str] | None:
    """The first (field, Italian reason) whose text holds NUL or a lone surrogate, or None."""
    for name, value in fields:
        for text in (name, value):
            if isinstance(text, str) and (match := _BAD_CHARS.search(text)):
                reason = (
                    "contiene un carattere nullo (NUL)"
                    if match.group() == "\x00"
                    else "contiene un carattere Unicode non valido (surrogato isolato)"
                )
                return _BAD_CHARS.sub("\ufffd", str(name)), reason
    return None


def json_fields(payload: Any, prefix: str = "", limit: int = 100_000) -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) of a JSON document, keys included as values, without recursion."""
    stack: list[tuple[str, Any]] = [(prefix, payload)]
    seen = 0
    while stack and seen < limit:
        path, value = stack.pop()
        seen += 1
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                yield child, key
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        else:
            yield path, value
