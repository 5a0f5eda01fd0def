"""The one pagination of the lists: Flask-SQLAlchemy's `db.paginate`, a page past the last showing the last.

The page number comes from the query string through `mailer.inputs.page_number` (`page_arg`); the links are
drawn by `templates/_pager.html`, which keeps the other query parameters.
"""

from __future__ import annotations

from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from ..extensions import db
from ..inputs import page_number


def page_arg(value: Any) -> int:
    """A page number read from the query string (`args.get("page")`): 1 when missing or not a page number
    (0, -3, «abc», 10**9)."""
    try:
        return page_number(1 if value is None else value)
    except (TypeError, ValueError):
        return 1


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill (at least one: an empty list is one empty page)."""
    return max(1, -(-total // per_page))


def paginate(query: Select[Any], page: int, per_page: int, last_if_past_end: bool = True) -> Pagination:
    """One page of an ordered select of one entity, with `.items`, `.total`, `.page`, `.pages`.

    A page past the last gives the last one (most lists have always done so; `last_if_past_end=False`: an
    empty page, as the deliveries of a batch and the coverage list do); `.pages` is 0 when nothing matched.
    """
    result = db.paginate(query, page=page, per_page=per_page, max_per_page=None, error_out=False)
    if last_if_past_end and not result.items and result.total and result.page > result.pages:
        result = db.paginate(query, page=result.pages, per_page=per_page, max_per_page=None, error_out=False)
    return result
