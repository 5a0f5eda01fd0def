"""Campaigns: a saved filter + generic documents + subject and body + account, sent as a Batch.

The batch (kind "campaign", type GENERICO) goes through the same review → approval → sending →
results path as document batches. Preparation turns the filter's contacts into deliveries and
leaves out, with a reason counted per privacy level in ``Batch.params["exclusions"]``:

- opted-out contacts (every campaign; a transactional document still reaches them),
- addresses taken from INI-PEC and PEC addresses (every campaign: campaigns go through an ordinary
  account, and INI-PEC addresses may only be used for legal communications),
- for a *commercial* campaign, contacts without marketing consent — unless the company allows the
  soft-spam rule (art. 130 c. 4 Codice privacy) and the contact belongs to an existing customer:
  a party of kind customer with at least one invoice in the last SOFT_SPAM_MONTHS months. The rule
  also asks that the products be similar to those bought and that the customer was informed and
  can object at any time: the sender asserts the first two when marking the campaign commercial,
  every message carries the opt-out link, and opted-out contacts are never included.
- the same address twice (one message per address).

Commercial messages carry an unsubscribe link in the body and the ``List-Unsubscribe`` (https URL,
optional mailto) and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` headers (RFC 8058).
The link's token is the contact id signed with the application's secret (itsdangerous), so it
names the contact and cannot be guessed or altered. An opt-out applies at once: deliveries of the
contact not yet sent in campaign batches become "excluded" (the sender only claims "queued" ones).
"""

from .deliveries import (
    EXCLUSION_LABELS,
    SOFT_SPAM_MONTHS,
    exclusion_reason,
    exclusion_summary,
    run_preparation,
    soft_spam_parties,
)
from .filters import CampaignError, get_filter, may_edit_filter, save_filter, visible_filters
from .preview import CampaignPreview, preview_campaign
from .records import (
    accounts_for_campaigns,
    attachments_for_batch,
    campaign_of_batch,
    campaign_rows,
    create_campaign,
)
from .safety import unsafe_html
from .texts import CAMPAIGN_SCHEMA, recipient_context, render_texts, sample_context, validate_texts
from .unsubscribe import (
    OPT_OUT_REASON,
    UNSUBSCRIBE_PATH,
    contact_from_token,
    public_base_url,
    stop_deliveries_of,
    unsubscribe,
    unsubscribe_headers,
    unsubscribe_token,
    unsubscribe_url,
)

__all__ = [
    "CAMPAIGN_SCHEMA",
    "EXCLUSION_LABELS",
    "OPT_OUT_REASON",
    "SOFT_SPAM_MONTHS",
    "UNSUBSCRIBE_PATH",
    "CampaignError",
    "CampaignPreview",
    "accounts_for_campaigns",
    "attachments_for_batch",
    "campaign_of_batch",
    "campaign_rows",
    "contact_from_token",
    "create_campaign",
    "exclusion_reason",
    "exclusion_summary",
    "get_filter",
    "may_edit_filter",
    "preview_campaign",
    "public_base_url",
    "recipient_context",
    "render_texts",
    "run_preparation",
    "sample_context",
    "save_filter",
    "soft_spam_parties",
    "stop_deliveries_of",
    "unsafe_html",
    "unsubscribe",
    "unsubscribe_headers",
    "unsubscribe_token",
    "unsubscribe_url",
    "validate_texts",
    "visible_filters",
]
