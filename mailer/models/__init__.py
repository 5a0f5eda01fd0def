"""All models, importable from one place."""
from .account import Company, MailAccount
from .api_token import API_SCOPES, ApiToken
from .audit import AuditEvent
from .base import utcnow
from .batch import BATCH_STATUSES, DELIVERY_STATUSES, SUMMARY_STATES, Batch, Delivery, delivery_documents
from .campaign import Campaign, GenericDocument, GenericDocumentVersion, SavedFilter, campaign_documents
from .contact import (Contact, ContactChange, ContactFunction, Tag, contact_document_types,
                      contact_tags, function_document_types)
from .document import (Blob, Document, DocumentAttachment, DocumentLine, DocumentType, DocumentVersion,
                       Product, ProductCategory, SDI_KINDS, SdiNotification)
from .party import Agent, Category, Party, Zone
from .template import TEMPLATE_LANGUAGES, EmailTemplate, TemplateVersion
from .tracking import (PEC_RECEIPT_TYPES, RECEIPT_KINDS, RECEIPT_OUTCOMES, TRUST_STATUSES, MailboxState,
                       PecTrustedCertificate, Receipt)
from .user import LoginFailure, User, UserSession, user_document_types

__all__ = [
    "API_SCOPES", "ApiToken",
    "Agent", "AuditEvent", "Campaign", "GenericDocument", "GenericDocumentVersion", "SavedFilter",
    "campaign_documents", "BATCH_STATUSES", "SUMMARY_STATES", "Batch", "Blob", "Category", "Company", "Contact",
    "ContactChange", "ContactFunction", "DELIVERY_STATUSES", "Delivery", "Document",
    "DocumentAttachment", "DocumentLine", "DocumentType", "DocumentVersion", "EmailTemplate", "LoginFailure", "MailAccount", "Party",
    "Product", "ProductCategory", "TEMPLATE_LANGUAGES", "Tag", "TemplateVersion", "User", "UserSession", "Zone", "contact_document_types", "contact_tags",
    "delivery_documents", "function_document_types", "user_document_types", "utcnow",
    "MailboxState", "PEC_RECEIPT_TYPES", "RECEIPT_KINDS", "RECEIPT_OUTCOMES", "Receipt",
    "PecTrustedCertificate", "TRUST_STATUSES", "SDI_KINDS", "SdiNotification",
]
