"""All models, importable from one place."""

from .account import Company, MailAccount
from .api_token import API_SCOPES, ApiIdempotencyKey, ApiToken
from .audit import AuditEvent
from .base import utcnow
from .batch import BATCH_STATUSES, DELIVERY_STATUSES, SUMMARY_STATES, Batch, Delivery, delivery_documents
from .campaign import Campaign, GenericDocument, GenericDocumentVersion, SavedFilter, campaign_documents
from .contact import (
    Contact,
    ContactChange,
    ContactFunction,
    Tag,
    contact_document_types,
    contact_tags,
    function_document_types,
)
from .document import (
    SDI_KINDS,
    Blob,
    Document,
    DocumentAttachment,
    DocumentLine,
    DocumentType,
    DocumentVersion,
    Product,
    ProductCategory,
    SdiNotification,
)
from .party import Agent, Category, Party, Zone
from .preference import PREFERENCE_KINDS, PREFERENCE_STATUSES, PreferenceRequest
from .template import TEMPLATE_LANGUAGES, EmailTemplate, TemplateVersion
from .tracking import (
    PEC_RECEIPT_TYPES,
    RECEIPT_KINDS,
    RECEIPT_OUTCOMES,
    TRUST_STATUSES,
    MailboxState,
    PecTrustedCertificate,
    Receipt,
)
from .user import LoginFailure, User, UserSession, user_document_types
from .webhook import (
    MESSAGE_STATUSES,
    TEST_EVENT,
    WEBHOOK_EVENTS,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "API_SCOPES",
    "BATCH_STATUSES",
    "DELIVERY_STATUSES",
    "MESSAGE_STATUSES",
    "PEC_RECEIPT_TYPES",
    "PREFERENCE_KINDS",
    "PREFERENCE_STATUSES",
    "RECEIPT_KINDS",
    "RECEIPT_OUTCOMES",
    "SDI_KINDS",
    "SUMMARY_STATES",
    "TEMPLATE_LANGUAGES",
    "TEST_EVENT",
    "TRUST_STATUSES",
    "WEBHOOK_EVENTS",
    "Agent",
    "ApiIdempotencyKey",
    "ApiToken",
    "AuditEvent",
    "Batch",
    "Blob",
    "Campaign",
    "Category",
    "Company",
    "Contact",
    "ContactChange",
    "ContactFunction",
    "Delivery",
    "Document",
    "DocumentAttachment",
    "DocumentLine",
    "DocumentType",
    "DocumentVersion",
    "EmailTemplate",
    "GenericDocument",
    "GenericDocumentVersion",
    "LoginFailure",
    "MailAccount",
    "MailboxState",
    "Party",
    "PecTrustedCertificate",
    "PreferenceRequest",
    "Product",
    "ProductCategory",
    "Receipt",
    "SavedFilter",
    "SdiNotification",
    "Tag",
    "TemplateVersion",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "Zone",
    "campaign_documents",
    "contact_document_types",
    "contact_tags",
    "delivery_documents",
    "function_document_types",
    "user_document_types",
    "utcnow",
]
