"""Customers, suppliers and their contacts: privacy-filtered queries, search, edits with history,
coverage per document type, export.

Privacy: a user sees a contact only when `Contact.privacy_level <= user.privacy_clearance`.
Every query here takes the clearance (or the user) and applies that rule; other areas call
`visible_contacts_query(user)` / `visible_contacts_filter(clearance)` instead of querying Contact directly.

Every change to a contact goes through `writes` (`create_contact`, `update_contact`, `delete_contact`,
`upsert_contact`), after `checks.validate_contact`: so the checks, the PEC detection and the history
hold for the page, the import, the API and the intake alike.

Modules: `visibility` (privacy filter, roles), `search` (party list filters and paging), `checks`
(validation of a contact), `writes` (writes and their history entries), `history` (the history as the
party page shows it), `coverage` (document types nobody receives), `export` (rows of the filtered list),
`functions` (contact functions). CSV/XLSX files are written and read by `mailer.services.spreadsheets`.
"""

from .checks import PHONE_CHARS, ContactInput, function_lookup, parse_date, validate_contact
from .coverage import CoverageRow, coverage_summary, uncovered_parties
from .export import CONTACT_EXPORT_COLUMNS, KIND_EXPORT, PARTY_EXPORT_COLUMNS, export_rows
from .functions import save_function
from .history import HistoryEntry, party_history
from .search import (
    MIN_CONTACT_SEARCH,
    PER_PAGE,
    SORT_LABELS,
    SORTS,
    PartyFilters,
    PartyPage,
    filter_choices,
    get_party,
    party_conditions,
    search_parties,
)
from .visibility import (
    EDIT_ROLES,
    IMPORT_ROLES,
    VIEW_ROLES,
    clearance_of,
    get_visible_contact,
    party_contacts,
    visible_contacts_filter,
    visible_contacts_query,
)
from .writes import (
    FIELD_LABELS,
    contact_label,
    contact_snapshot,
    create_contact,
    delete_contact,
    ensure_contact_for_address,
    input_of,
    update_contact,
    upsert_contact,
)

__all__ = [
    "CONTACT_EXPORT_COLUMNS",
    "EDIT_ROLES",
    "FIELD_LABELS",
    "IMPORT_ROLES",
    "KIND_EXPORT",
    "MIN_CONTACT_SEARCH",
    "PARTY_EXPORT_COLUMNS",
    "PER_PAGE",
    "PHONE_CHARS",
    "SORTS",
    "SORT_LABELS",
    "VIEW_ROLES",
    "ContactInput",
    "CoverageRow",
    "HistoryEntry",
    "PartyFilters",
    "PartyPage",
    "clearance_of",
    "contact_label",
    "contact_snapshot",
    "coverage_summary",
    "create_contact",
    "delete_contact",
    "ensure_contact_for_address",
    "export_rows",
    "filter_choices",
    "function_lookup",
    "get_party",
    "get_visible_contact",
    "input_of",
    "parse_date",
    "party_conditions",
    "party_contacts",
    "party_history",
    "save_function",
    "search_parties",
    "uncovered_parties",
    "update_contact",
    "upsert_contact",
    "validate_contact",
    "visible_contacts_filter",
    "visible_contacts_query",
]
