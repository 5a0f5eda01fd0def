"""Preparing a batch (the "programma di stampa"): choose documents, route them, render every e-mail.

For each document the recipients are the active contacts of its party that receive its type and
have an address. The account is the PEC account when the type goes by PEC and the address is PEC,
otherwise the ordinary one; the reason is stored with the delivery. Documents with nobody to
receive them become "senza destinatario" rows that name the party, so they can be fixed and
re-routed without preparing the batch again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..formatting import DateInputError, parse_it_date
from ..models import (
    Batch,
    Blob,
    Contact,
    Delivery,
    Document,
    DocumentAttachment,
    DocumentType,
    MailAccount,
    Party,
    User,
    contact_document_types,
    delivery_documents,
    utcnow,
)
from ..queue import get_queue
from .audit import audit

ACTIVE_BATCH_STATES = ("preparing", "ready", "approved", "sending", "paused")
PROGRESS_EVERY = 100


UNPREPARABLE = (
    "Documento non preparabile"  # exclusion reason of a document whose PDF or e-mail cannot be rendered
)


class PreparationError(Exception):
    """The preparation request is not acceptable (message in Italian)."""


class NothingToPrepare(PreparationError):
    """The selection holds no document to send: no batch is created."""


@dataclass
class Selection:
    """Which documents to prepare."""

    type_codes: list[str]
    date_from: date | None = None
    date_to: date | None = None
    only_unsent: bool = True
    party_ids: list[int] = field(default_factory=list)
    zone_id: int | None = None
    agent_id: int | None = None
    category_id: int | None = None
    document_ids: list[int] = field(default_factory=list)

    def as_params(self) -> dict:
        """JSON-able form for Batch.params."""
        return {
            "type_codes": self.type_codes,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "only_unsent": self.only_unsent,
            "party_ids": self.party_ids,
            "zone_id": self.zone_id,
            "agent_id": self.agent_id,
            "category_id": self.category_id,
            "document_ids": self.document_ids,
        }

    @classmethod
    def from_params(cls, params: dict) -> Selection:
        """Rebuild from Batch.params."""
        return cls(
            type_codes=list(params.get("type_codes") or []),
            date_from=date.fromisoformat(params["date_from"]) if params.get("date_from") else None,
            date_to=date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
            only_unsent=bool(params.get("only_unsent", True)),
            party_ids=list(params.get("party_ids") or []),
            zone_id=params.get("zone_id"),
            agent_id=params.get("agent_id"),
            category_id=params.get("category_id"),
            document_ids=list(params.get("document_ids") or []),
        )


def parse_date(value: str | None, label: str) -> date | None:
    """A dd/mm/yyyy (or YYYY-MM-DD) date from a form or the command line (None when empty); PreparationError."""
    try:
        return parse_it_date(value, label)
    except DateInputError as exc:
        raise PreparationError(str(exc)) from None


def check_permission(user: User | None, type_codes: list[str]) -> None:
    """A user may prepare only the types they may send."""
    if user is None:
        return
    known = set(db.session.scalars(select(DocumentType.code)))
    unknown = [c for c in type_codes if c not in known]
    if unknown:
        raise PreparationError(f"Tipo di documento sconosciuto: {', '.join(unknown)}.")
    denied = [c for c in type_codes if not user.may_send(c)]
    if denied:
        raise PreparationError(f"Non sei autorizzato a inviare: {', '.join(denied)}.")


def create_batch(
    selection: Selection,
    user: User | None,
    name: str = "",
    enqueue: bool = True,
    scheduled: bool = False,
    base_url: str = "",
) -> Batch:
    """Record a batch to prepare and start its preparation job; returns the batch (status preparing).

    `base_url`: the address the batch was prepared from, for the links of its summary e-mail when
    PUBLIC_BASE_URL is not set. NothingToPrepare (no batch) when the selection holds no document to send."""
    if not selection.type_codes and not selection.document_ids:
        raise PreparationError("Scegli almeno un tipo di documento.")
    if selection.document_ids and not selection.type_codes:
        selection.type_codes = sorted(
            set(db.session.scalars(select(Document.type_code).where(Document.id.in_(selection.document_ids))))
        )
    if selection.date_from and selection.date_to and selection.date_from > selection.date_to:
        raise PreparationError("La data iniziale è successiva a quella finale.")
    check_permission(user, selection.type_codes)
    if not select_documents(selection):
        raise NothingToPrepare(nothing_message(selection))
    params = {
        **selection.as_params(),
        **({"scheduled": True} if scheduled else {}),
        **({"base_url": base_url.rstrip("/")} if base_url else {}),
    }
    batch = Batch(
        kind="documents",
        status="preparing",
        params=params,
        type_codes=selection.type_codes,
        created_by_id=user.id if user else None,
        name=name or _default_name(selection),
    )
    db.session.add(batch)
    db.session.flush()
    audit("batch.prepare", batch, user=user, types=selection.type_codes)
    db.session.commit()
    if enqueue:
        from ..jobs.batches import prepare_batch_job

        job = get_queue().enqueue(
            prepare_batch_job, batch.id, job_timeout=3600, description=f"preparazione invio {batch.id}"
        )
        batch.job_id = job.id
        db.session.commit()
    return batch


def nothing_message(selection: Selection) -> str:
    """Why a selection gives no batch, and what to do (Italian)."""
    if selection.document_ids:
        return (
            "Nessun documento da preparare: i documenti scelti sono già in un invio da approvare o in corso "
            "(scartalo o attendi che finisca)."
        )
    which = "non ancora inviato " if selection.only_unsent else ""
    return (
        f"Nessun documento da preparare: nessun documento {which}di questi tipi e periodo, fuori dagli invii "
        "da approvare o in corso. Cambia tipi o periodo"
        + (", oppure scegli «tutti, anche già inviati»." if selection.only_unsent else ".")
    )


def _default_name(selection: Selection) -> str:
    """A readable batch name: types and period."""
    names = dict(db.session.execute(select(DocumentType.code, DocumentType.name)).all())
    types = ", ".join(names.get(c, c) for c in selection.type_codes)
    if selection.document_ids:
        return f"{types} – {len(selection.document_ids)} documenti scelti"
    period = ""
    if selection.date_from or selection.date_to:
        a = selection.date_from.strftime("%d/%m/%Y") if selection.date_from else "…"
        b = selection.date_to.strftime("%d/%m/%Y") if selection.date_to else "…"
        period = f" dal {a} al {b}"
    return types + period


def select_documents(selection: Selection, batch_id: int | None = None) -> list[int]:
    """Ids of the documents the selection covers, skipping those already in another active batch."""
    query = select(Document.id).join(Party, Party.id == Document.party_id)
    if selection.document_ids:
        query = query.where(Document.id.in_(selection.document_ids))
    else:
        query = query.where(Document.type_code.in_(selection.type_codes))
        if selection.date_from:
            query = query.where(Document.date >= selection.date_from)
        if selection.date_to:
            query = query.where(Document.date <= selection.date_to)
        if selection.only_unsent:
            query = query.where(Document.sent_at.is_(None))
    if selection.party_ids:
        query = query.where(Document.party_id.in_(selection.party_ids))
    if selection.zone_id:
        query = query.where(Party.zone_id == selection.zone_id)
    if selection.agent_id:
        query = query.where(Party.agent_id == selection.agent_id)
    if selection.category_id:
        query = query.where(Party.category_id == selection.category_id)
    busy = (
        select(delivery_documents.c.document_id)
        .join(Delivery, Delivery.id == delivery_documents.c.delivery_id)
        .join(Batch, Batch.id == Delivery.batch_id)
        .where(Batch.status.in_(ACTIVE_BATCH_STATES), Delivery.status.notin_(["excluded", "cancelled"]))
    )
    if batch_id:
        busy = busy.where(Batch.id != batch_id)
    query = query.where(Document.id.notin_(busy)).order_by(Document.party_id, Document.date, Document.id)
    return list(db.session.scalars(query))


# ---------------------------------------------------------------- accounts


class AccountPicker:
    """Chooses the sending account of each message, with the reason in words."""

    def __init__(self):
        accounts = list(
            db.session.scalars(
                select(MailAccount)
                .where(MailAccount.active.is_(True))
                .order_by(MailAccount.is_default.desc(), MailAccount.id)
            )
        )
        self.by_id = {a.id: a for a in accounts}
        self.ordinary = next((a for a in accounts if a.kind != "pec"), None)
        self.pec = next((a for a in accounts if a.kind == "pec"), None)

    def pick(self, doc_type: DocumentType, contact: Contact) -> tuple[MailAccount | None, str, list[str]]:
        """(account, reason, warnings) for a message of this type to this contact."""
        warnings: list[str] = []
        chosen = self.by_id.get(doc_type.account_id) if doc_type.account_id else None
        if doc_type.by_pec and contact.is_pec:
            pec = chosen if chosen is not None and chosen.kind == "pec" else self.pec
            if pec is not None:
                return pec, "PEC: il tipo va via PEC e l'indirizzo del destinatario è PEC", warnings
            warnings.append("Il tipo va via PEC ma non c'è un account PEC attivo: uso l'account ordinario")
        ordinary = chosen if chosen is not None and chosen.kind != "pec" else self.ordinary
        if ordinary is None:
            return None, "Nessun account ordinario attivo", warnings + ["Configura un account di invio"]
        if doc_type.by_pec:
            reason = "Ordinario: il tipo va via PEC ma l'indirizzo del destinatario non è PEC"
        elif contact.is_pec:
            reason = "Ordinario: il tipo non è impostato per la PEC"
        else:
            reason = "Ordinario"
        if chosen is not None and chosen.kind != "pec":
            reason += f" (account del tipo: {chosen.name})"
        return ordinary, reason, warnings


# ---------------------------------------------------------------- the job


def run_preparation(batch_id: int, fill=None) -> Batch:
    """Fill a batch with its deliveries; the batch ends "ready" (or "failed" with the reason).

    `fill(batch)` does the work (document batches by default; campaigns pass their own). Safe to run
    twice: a batch no longer "preparing" is left alone.
    """
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise PreparationError(f"Invio {batch_id} inesistente")
    if batch.status != "preparing":
        return batch  # already done (the job ran twice)
    try:
        (fill or _prepare)(batch)
    except NothingToPrepare as exc:  # its documents were taken meanwhile: said on the page, not a crash
        db.session.rollback()
        batch = db.session.get(Batch, batch_id)
        batch.status = "failed"
        batch.error = str(exc)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        batch = db.session.get(Batch, batch_id)
        batch.status = "failed"
        batch.error = f"Preparazione non riuscita: {exc}"
        db.session.commit()
        raise
    return batch


def _prepare(batch: Batch) -> None:
    """The preparation proper (see run_preparation)."""
    from .mail_templates import snapshot_versions

    # A re-run after a crash starts clean: deliveries of a batch still "preparing" were never shown.
    db.session.execute(Delivery.__table__.delete().where(Delivery.batch_id == batch.id))
    selection = Selection.from_params(batch.params or {})
    doc_ids = select_documents(selection, batch.id)
    if not doc_ids:  # taken by another preparation since the batch was requested
        raise NothingToPrepare(nothing_message(selection))
    batch.progress_total = len(doc_ids) * 2
    batch.progress_done = 0
    batch.template_versions = snapshot_versions(sorted(set(selection.type_codes)))
    db.session.commit()

    # 1. PDFs that are still missing (rendered in bulk, many per wkhtmltopdf call); a document whose
    #    PDF cannot be made is set aside with its reason, the others go on.
    missing = list(
        db.session.scalars(select(Document.id).where(Document.id.in_(doc_ids), Document.pdf_sha256.is_(None)))
    )
    unpreparable: dict[int, str] = {}
    for start in range(0, len(missing), 200):
        unpreparable.update(render_missing_pdfs(missing[start : start + 200]))
        batch.progress_done = len(doc_ids) - len(missing) + min(len(missing), start + 200)
        db.session.commit()
    batch.progress_done = len(doc_ids)
    db.session.commit()

    # 2. Routing and e-mails.
    router = Router(batch, unpreparable)
    for start in range(0, len(doc_ids), PROGRESS_EVERY):
        router.route(doc_ids[start : start + PROGRESS_EVERY])
        batch.progress_done = len(doc_ids) + min(len(doc_ids), start + PROGRESS_EVERY)
        db.session.commit()
    router.finish()
    batch.status = "ready"
    db.session.commit()
    _maybe_auto_approve(batch)


def render_missing_pdfs(doc_ids: list[int]) -> dict[int, str]:
    """Render the missing PDFs of some documents; {document id: reason} for those that cannot be rendered.

    The HTML of each document is built first (about 3 ms, against about 90 ms for its PDF): a document
    whose data has the wrong shape is set aside there with its reason, and the others are rendered
    together (the fast path). Should that still fail, they are rendered one by one; when none of them
    renders (wkhtmltopdf missing), the error is raised: the preparation fails as a whole, with the reason.
    """
    from ..pdf.render import ensure_pdfs, logo_data_uri, render_document_html
    from .reference import get_company

    company = get_company()
    logo = logo_data_uri(company)
    failed: dict[int, str] = {}
    documents = select(Document).where(Document.id.in_(doc_ids)).options(selectinload(Document.lines))
    for document in db.session.scalars(documents):
        try:
            render_document_html(document, company, logo)
        except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
            failed[document.id] = f"PDF non generabile: {type(exc).__name__}: {exc}"
    rest = [i for i in doc_ids if i not in failed]
    try:
        ensure_pdfs(rest)
        return failed
    except Exception:  # noqa: BLE001 — one by one below, each failure kept with its reason
        db.session.rollback()
    errors: list[Exception] = []
    for doc_id in rest:
        try:
            ensure_pdfs([doc_id])
        except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
            db.session.rollback()
            errors.append(exc)
            failed[doc_id] = f"PDF non generabile: {type(exc).__name__}: {exc}"
    if len(errors) == len(rest):  # not one document rendered: the converter itself is broken
        raise errors[0]
    return failed


def _maybe_auto_approve(batch: Batch) -> None:
    """Scheduled batches of auto-approved types go out without waiting (never with a re-send: a person sees it)."""
    if not (batch.params or {}).get("scheduled"):
        return
    if db.session.scalar(
        select(Delivery.id)
        .where(
            Delivery.batch_id == batch.id, Delivery.status == "pending", Delivery.already_sent_at.is_not(None)
        )
        .limit(1)
    ):
        return
    types = list(
        db.session.scalars(select(DocumentType).where(DocumentType.code.in_(batch.type_codes or [])))
    )
    if types and all(t.auto_approve for t in types):
        from .approval import approve_batch
        from .sending import start_sending

        approve_batch(batch, None, automatic=True)
        start_sending(batch)


class Router:
    """Turns documents into deliveries for one batch."""

    def __init__(self, batch: Batch, unpreparable: dict[int, str] | None = None):
        from .mail_templates import build_context, document_context, render_for, template_language

        self.batch = batch
        self.unpreparable = dict(unpreparable or {})  # document id -> why it cannot be prepared
        self.set_aside: set[int] = set()  # documents whose "non preparabile" row is written
        self.document_context = document_context
        self.build_context = build_context
        self.render_for = render_for
        self.template_language = template_language
        self.picker = AccountPicker()
        self.types = {t.code: t for t in db.session.scalars(select(DocumentType))}
        self.user = db.session.get(User, batch.created_by_id) if batch.created_by_id else None
        # Grouped types: (contact, type) -> documents, written at the end.
        self.groups: OrderedDict[tuple[int, str], list[Document]] = OrderedDict()
        self.contacts: dict[int, Contact] = {}
        self.sizes: dict[int, int] = {}  # document id -> bytes of its attachments
        self.previous: dict[int, list[tuple]] = {}  # document id -> earlier sends (see earlier_sends)

    def route(self, doc_ids: list[int]) -> None:
        """Route a chunk of documents."""
        with db.session.no_autoflush:
            self._route(doc_ids)

    def _route(self, doc_ids: list[int]) -> None:
        """Route a chunk (see route), with the file sizes of its documents read in one query."""
        documents = list(
            db.session.scalars(select(Document).where(Document.id.in_(doc_ids)).order_by(Document.id))
        )
        party_ids = {d.party_id for d in documents}
        recipients = self._recipients(party_ids)
        self.sizes.update(attachment_sizes(documents))
        self.previous.update(earlier_sends(documents))
        for document in documents:
            if document.id not in self.unpreparable:
                try:  # the document's own data, as every e-mail template reads it
                    self.document_context(document, self.template_language(document.party))
                except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
                    self.unpreparable[document.id] = f"dati non validi: {type(exc).__name__}: {exc}"
            if document.id in self.unpreparable:
                self._unpreparable(document)
                continue
            contacts = recipients.get((document.party_id, document.type_code), [])
            if not contacts:
                self._no_recipient(document)
                continue
            doc_type = self.types[document.type_code]
            for contact in contacts:
                if doc_type.group_per_recipient:
                    self.groups.setdefault((contact.id, document.type_code), []).append(document)
                    self.contacts[contact.id] = contact
                else:
                    self._delivery(contact, doc_type, [document])

    def finish(self) -> None:
        """Write the grouped deliveries."""
        for (contact_id, type_code), documents in self.groups.items():
            self._delivery(self.contacts[contact_id], self.types[type_code], documents)
        self.groups.clear()

    def _unpreparable(self, document: Document) -> None:
        """A document whose PDF or e-mail cannot be made: excluded, with the reason, so the rest goes on."""
        if document.id in self.set_aside:
            return
        self.set_aside.add(document.id)
        reason = self.unpreparable[document.id]
        if isinstance(document.extra, dict):  # name the fields of the wrong shape, as the API now does
            from .document_extra import validate_extra

            fields: dict[str, str] = {}
            validate_extra(document.extra, fields)
            if fields:
                reason = "; ".join(f"{k}: {v}" for k, v in list(fields.items())[:5]) + f" ({reason})"
        delivery = Delivery(
            batch_id=self.batch.id,
            party_id=document.party_id,
            status="excluded",
            exclusion_reason=UNPREPARABLE,
            subject="",
            privacy_level=0,
            warnings=[
                f"{document.type_code} {document.number}: non preparabile, {reason}"[:1000].rstrip(".")
                + ". Correggi i dati nel gestionale e preparalo di nuovo."
            ],
        )
        delivery.documents = [document]
        db.session.add(delivery)

    def _recipients(self, party_ids: set[int]) -> dict[tuple[int, str], list[Contact]]:
        """(party, type) -> active contacts with an address that receive that type, one per address.

        Two contacts of a party with the same address (a confidential one and one added later by an
        import or the API that could not see it) would get the same document twice: one message goes,
        on behalf of the more confidential of them, so that its level still hides the address.
        """
        rows = db.session.execute(
            select(Contact, contact_document_types.c.document_type_code)
            .join(contact_document_types, contact_document_types.c.contact_id == Contact.id)
            .where(Contact.party_id.in_(party_ids), Contact.active.is_(True), Contact.email != "")
            .order_by(Contact.id)
        ).all()
        result: dict[tuple[int, str], list[Contact]] = {}
        for contact, code in rows:
            group = result.setdefault((contact.party_id, code), [])
            address = contact.email.strip().lower()
            same = next((i for i, other in enumerate(group) if other.email.strip().lower() == address), None)
            if same is None:
                group.append(contact)
            elif contact.privacy_level > group[same].privacy_level:
                group[same] = contact
        return result

    def _no_recipient(self, document: Document) -> None:
        """A document nobody receives: listed, not dropped."""
        delivery = Delivery(
            batch_id=self.batch.id,
            party_id=document.party_id,
            status="norecipient",
            exclusion_reason="Nessun contatto attivo con e-mail riceve questo tipo di documento",
            subject="",
            privacy_level=0,
        )
        delivery.documents = [document]
        db.session.add(delivery)

    def _delivery(
        self, contact: Contact, doc_type: DocumentType, documents: list[Document]
    ) -> Delivery | None:
        """One message to one contact (None when its e-mail cannot be rendered: its documents are set aside)."""
        account, reason, warnings = self.picker.pick(doc_type, contact)
        party = documents[0].party
        language = self.template_language(party)
        version_id = (self.batch.template_versions or {}).get(doc_type.code, {}).get(language)
        try:
            context = self.build_context(
                documents, contact=contact, party=party, user=self.user, account=account, language=language
            )
            rendered = self.render_for(doc_type.code, language, context, version=version_id, account=account)
        except Exception as exc:  # noqa: BLE001 — the documents are set aside with the reason
            for document in documents:
                self.unpreparable.setdefault(
                    document.id, f"e-mail non generabile: {type(exc).__name__}: {exc}"
                )
                self._unpreparable(document)
            return None
        cc = doc_type.cc_address or ""
        delivery = Delivery(
            batch_id=self.batch.id,
            party_id=party.id,
            contact_id=contact.id,
            recipient_email=contact.email,
            recipient_name=contact.name,
            privacy_level=contact.privacy_level,
            account_id=account.id if account else None,
            account_reason=reason,
            status="pending",
            subject=rendered.subject,
            body_html=rendered.html,
            body_text=rendered.text,
            cc=cc,
            reply_to=doc_type.reply_to or "",
            template_version_id=rendered.version_id,
        )
        delivery.documents = documents
        size = estimate_size(delivery, documents, self.sizes)
        delivery.size_bytes = size
        if account is not None:
            copies = 1 + len([a for a in cc.split(",") if a.strip()])
            counted = size * copies if account.is_pec else size
            if account.max_message_bytes and counted > account.max_message_bytes:
                warnings.append(
                    f"Messaggio troppo grande per l'account {account.name}: "
                    f"{counted / 1048576:.1f} MB{' (dimensione × destinatari, PEC)' if account.is_pec else ''} "
                    f"oltre il limite di {account.max_message_bytes / 1048576:.1f} MB"
                )
                delivery.exclusion_reason = "troppo grande"
        else:
            delivery.exclusion_reason = "nessun account"
        if doc_type.attach_pdf and any(d.pdf_sha256 is None for d in documents):
            warnings.append("PDF mancante")
        resent = resend_warnings(documents, self.previous, contact.privacy_level)
        warnings.extend(resent)
        if resent:
            delivery.already_sent_at = max(
                when for d in documents for when, _, _ in self.previous.get(d.id, [])
            )
        delivery.warnings = warnings
        db.session.add(delivery)
        return delivery


def earlier_sends(documents: list[Document]) -> dict[int, list[tuple]]:
    """{document id: [(sent at, recipient address, its privacy level), …]} of the documents already sent.

    A document marked sent (``sent_at``) without a delivery that says to whom counts too, with no address.
    """
    ids = [d.id for d in documents if d.sent_at is not None]
    found: dict[int, list[tuple]] = {}
    if not ids:
        return found
    rows = db.session.execute(
        select(
            delivery_documents.c.document_id,
            Delivery.sent_at,
            Delivery.recipient_email,
            Delivery.privacy_level,
        )
        .join(Delivery, Delivery.id == delivery_documents.c.delivery_id)
        .where(delivery_documents.c.document_id.in_(ids), Delivery.status == "sent")
        .order_by(Delivery.sent_at, Delivery.id)
    ).all()
    for doc_id, sent_at, address, level in rows:
        found.setdefault(doc_id, []).append((sent_at or utcnow(), address, level))
    for document in documents:
        if document.sent_at is not None and document.id not in found:
            found[document.id] = [(document.sent_at, "", 0)]
    return found


def resend_warnings(documents: list[Document], previous: dict[int, list[tuple]], level: int) -> list[str]:
    """One warning per document already sent: when, and to whom (only addresses no more confidential than
    this delivery's recipient, so that the warning never shows a hidden address to who reviews it)."""
    from ..formatting import it_datetime

    out = []
    for document in documents:
        sends = previous.get(document.id)
        if not sends:
            continue
        shown = [
            (when, address) for when, address, hidden_level in sends if address and hidden_level <= level
        ]
        if shown:
            parts = [f"il {it_datetime(when)} a {address}" for when, address in shown[-3:]]
            more = f" (e altre {len(shown) - 3} volte)" if len(shown) > 3 else ""
            text = "; ".join(parts) + more
        else:
            text = f"il {it_datetime(document.sent_at or sends[-1][0])}"
        out.append(f"Già inviato: {document.type_code} {document.number} {text}")
    return out


def attachment_sizes(documents: list[Document]) -> dict[int, int]:
    """Bytes each document adds as attachments (its PDF when the type attaches it, plus extra files)."""
    ids = [d.id for d in documents]
    if not ids:
        return {}
    sizes = {d.id: 0 for d in documents}
    pdf_rows = db.session.execute(
        select(Document.id, Blob.size)
        .join(Blob, Blob.sha256 == Document.pdf_sha256)
        .join(DocumentType, DocumentType.code == Document.type_code)
        .where(Document.id.in_(ids), DocumentType.attach_pdf.is_(True))
    ).all()
    extra_rows = db.session.execute(
        select(DocumentAttachment.document_id, Blob.size)
        .join(Blob, Blob.sha256 == DocumentAttachment.blob_sha256)
        .where(DocumentAttachment.document_id.in_(ids))
    ).all()
    for doc_id, size in list(pdf_rows) + list(extra_rows):
        sizes[doc_id] += size or 0
    return sizes


def estimate_size(delivery: Delivery, documents: list[Document], sizes: dict[int, int] | None = None) -> int:
    """Approximate wire size: bodies plus base64-encoded attachments."""
    if sizes is None or any(d.id not in sizes for d in documents):
        sizes = {**(sizes or {}), **attachment_sizes(documents)}
    raw = sum(sizes.get(d.id, 0) for d in documents)
    body = len((delivery.body_html or "").encode()) + len((delivery.body_text or "").encode())
    return int(raw * 4 / 3) + body + 2048


# ---------------------------------------------------------------- fixing "senza destinatario"


def reroute_party(batch: Batch, party_id: int) -> int:
    """Route again the documents of one party that had no recipient; returns deliveries created."""
    if batch.status not in ("ready",):
        raise PreparationError("Si può reindirizzare solo un invio in attesa di approvazione.")
    rows = list(
        db.session.scalars(
            select(Delivery).where(
                Delivery.batch_id == batch.id, Delivery.party_id == party_id, Delivery.status == "norecipient"
            )
        )
    )
    doc_ids = [d.id for row in rows for d in row.documents]
    if not doc_ids:
        return 0
    for row in rows:
        db.session.delete(row)
    db.session.flush()
    routed = select(db.func.count(Delivery.id)).where(
        Delivery.batch_id == batch.id, Delivery.party_id == party_id, Delivery.status != "norecipient"
    )
    before = db.session.scalar(routed)
    router = Router(batch)
    router.route(doc_ids)
    router.finish()
    db.session.flush()
    created = db.session.scalar(routed) - before
    audit("batch.reroute", batch, party_id=party_id, created=created)
    db.session.commit()
    return created


def blocking_problems(batch: Batch) -> list[str]:
    """Reasons that prevent approval (too large, no account)."""
    rows = db.session.execute(
        select(Delivery.exclusion_reason, db.func.count(Delivery.id))
        .where(
            Delivery.batch_id == batch.id,
            Delivery.status == "pending",
            Delivery.exclusion_reason.in_(["troppo grande", "nessun account"]),
        )
        .group_by(Delivery.exclusion_reason)
    ).all()
    messages = {
        "troppo grande": "messaggi oltre il limite di dimensione dell'account",
        "nessun account": "messaggi senza un account di invio",
    }
    return [f"{count} {messages[reason]}: escludili o correggi prima di approvare" for reason, count in rows]
