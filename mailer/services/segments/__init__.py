"""Segments: which contacts a set of conditions selects (SQLAlchemy Core, SQLite and PostgreSQL).

A segment is a list of conditions combined with AND. Each condition is a small JSON dict with a
"type" (see CONDITION_TYPES); `parse_conditions` validates them (Italian errors per condition) and
`contacts_query` builds one SELECT of contact ids. Party conditions (kind, agent, zone, …) and sales
statistics narrow the parties; contact conditions (function, document types, tags) narrow the
contacts. Only active contacts with an e-mail address, within the user's privacy clearance, count.

Sales statistics come from the lines of invoices (FATTURA): "bought" means invoiced. Turnover is
the net total of invoices minus credit notes. "No purchase for N days" means no invoice in the last
N days (customers who never bought qualify too: combine with "bought" for dormant customers).
"""

from . import picker
from .picker import PICKER_COUNT_CAP, PICKER_SIZE, ProductMatches, search_products
from .query import (
    CREDIT_TYPES,
    SALES_TYPES,
    SAMPLE_SIZE,
    SegmentCount,
    base_conditions,
    condition_clause,
    contacts_select,
    count,
    months_ago,
    period_bounds,
    sample,
)
from .validation import (
    CONDITION_TYPES,
    ID_LABELS,
    MAX_CONDITIONS,
    MAX_ID,
    SegmentError,
    clean_condition,
    parse_conditions,
)
from .wording import choices, describe

__all__ = [
    "CONDITION_TYPES",
    "CREDIT_TYPES",
    "ID_LABELS",
    "MAX_CONDITIONS",
    "MAX_ID",
    "PICKER_COUNT_CAP",
    "PICKER_SIZE",
    "SALES_TYPES",
    "SAMPLE_SIZE",
    "ProductMatches",
    "SegmentCount",
    "SegmentError",
    "base_conditions",
    "choices",
    "clean_condition",
    "condition_clause",
    "contacts_select",
    "count",
    "describe",
    "months_ago",
    "parse_conditions",
    "period_bounds",
    "picker",
    "sample",
    "search_products",
]
