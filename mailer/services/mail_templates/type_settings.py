"""The sending settings of a document type (PEC, PDF, grouping, reply-to, copy, account, schedule)."""

from __future__ import annotations

import re

from ...extensions import db
from ...models import DocumentType, MailAccount
from ..validation import InvalidValue, normalize_email

SENDING_SETTINGS = (
    "by_pec",
    "attach_pdf",
    "group_per_recipient",
    "reply_to",
    "cc_address",
    "account_id",
    "schedule_cron",
    "auto_approve",
    "preferences_link",
    "wait_for_sdi",
    "sdi_mc_text",
)
MC_TEXT_MAX = 1000


def sending_settings(doc_type: DocumentType) -> dict:
    """A type's current sending settings, {name: value} (what the settings form shows)."""
    return {k: getattr(doc_type, k) for k in SENDING_SETTINGS}


def sending_accounts() -> list[MailAccount]:
    """Ordinary active accounts a type can be bound to (PEC accounts are chosen by themselves)."""
    return list(
        db.session.scalars(
            db.select(MailAccount)
            .where(MailAccount.active.is_(True), MailAccount.kind != "pec")
            .order_by(MailAccount.name)
        )
    )


def update_sending_settings(
    type_code: str,
    *,
    by_pec: bool,
    attach_pdf: bool,
    group_per_recipient: bool,
    reply_to: str,
    cc_address: str,
    account_id: int | None,
    schedule_cron: str | None = None,
    auto_approve: bool | None = None,
    preferences_link: bool | None = None,
    wait_for_sdi: bool | None = None,
    sdi_mc_text: str | None = None,
) -> dict[str, str]:
    """Validate and apply a type's sending settings; returns {field: Italian error} (nothing written then).

    schedule_cron / auto_approve (automatic preparation) and preferences_link (the «Gestisci le tue
    preferenze» link at the end of each message) are left unchanged when None; so are
    wait_for_sdi / sdi_mc_text, which only invoices and credit notes have (sdi.SDI_TYPES).
    """
    from ..sdi import MC_TEXT, SDI_TYPES

    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is None:
        raise LookupError(type_code)
    errors: dict[str, str] = {}
    reply_to = (reply_to or "").strip()
    cc_address = (cc_address or "").strip()
    try:  # the project's one e-mail check (validation.normalize_email), as for contacts
        reply_to = normalize_email(reply_to)
    except InvalidValue:
        errors["reply_to"] = "Indirizzo di risposta non valido."
    try:
        cc_address = normalize_email(cc_address)
    except InvalidValue:
        errors["cc_address"] = "Indirizzo in copia non valido (uno solo)."
    account = None
    if account_id:
        account = db.session.get(MailAccount, account_id)
        if account is None or not account.active:
            errors["account_id"] = "Account inesistente o disattivato."
        elif account.is_pec:
            errors["account_id"] = (
                "Scegli un account ordinario: l'account PEC viene scelto da solo quando il "
                "destinatario è PEC e il tipo va per PEC."
            )
    if schedule_cron is not None:
        from ..schedules import validate_cron

        schedule_cron = " ".join(schedule_cron.split())
        problem = validate_cron(schedule_cron)
        if problem:
            errors["schedule_cron"] = problem
    if type_code not in SDI_TYPES:
        wait_for_sdi = sdi_mc_text = None
    if sdi_mc_text is not None:
        sdi_mc_text = " ".join(sdi_mc_text.split())
        if sdi_mc_text == MC_TEXT:
            sdi_mc_text = ""  # the default stays the default, should it be reworded one day
        if len(sdi_mc_text) > MC_TEXT_MAX:
            errors["sdi_mc_text"] = f"Testo dopo la mancata consegna: al massimo {MC_TEXT_MAX} caratteri."
        elif re.search(r"[<>{}]", sdi_mc_text):
            errors["sdi_mc_text"] = (
                "Testo dopo la mancata consegna: solo testo semplice, senza < > { } (niente HTML né segnaposto)."
            )
    if errors:
        return errors
    before = sending_settings(doc_type)
    if schedule_cron is not None:
        doc_type.schedule_cron = schedule_cron
    if auto_approve is not None:
        doc_type.auto_approve = bool(auto_approve)
    if preferences_link is not None:
        doc_type.preferences_link = bool(preferences_link)
    if wait_for_sdi is not None:
        doc_type.wait_for_sdi = bool(wait_for_sdi)
    if sdi_mc_text is not None:
        doc_type.sdi_mc_text = sdi_mc_text
    doc_type.by_pec = bool(by_pec)
    doc_type.attach_pdf = bool(attach_pdf)
    doc_type.group_per_recipient = bool(group_per_recipient)
    doc_type.reply_to = reply_to
    doc_type.cc_address = cc_address
    doc_type.account_id = account.id if account else None
    after = {k: getattr(doc_type, k) for k in before}
    from ..audit import audit

    audit(
        "document_type.settings",
        doc_type,
        code=type_code,
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
    )
    return {}
