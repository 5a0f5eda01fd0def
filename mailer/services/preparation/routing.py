"""Routing documents to deliveries: the account of each message (AccountPicker), the Router that writes
the deliveries of a batch, and the re-routing of documents that had no recipient."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select

from ...extensions import db
from ...models import (
    Batch,
    Contact,
    Delivery,
    Document,
    DocumentType,
    MailAccount,
    User,
    contact_document_types,
)
from .. import sdi
from ..audit import audit
from .resend_safety import attachment_sizes, earlier_sends, estimate_size, resend_warnings
from .selection import (
    UNPREPARABLE,
    PreparationError,
)


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

    def pick(
        self, doc_type: DocumentType, contact: Contact, sdi_mc: bool = False
    ) -> tuple[MailAccount | None, str, list[str]]:
        """(account, reason, warnings) for a message of this type to this contact.

        `sdi_mc`: the SdI could not deliver the invoice (MC): a PEC address gets it by PEC whatever the type says."""
        warnings: list[str] = []
        chosen = self.by_id.get(doc_type.account_id) if doc_type.account_id else None
        if (doc_type.by_pec or sdi_mc) and contact.is_pec:
            pec = chosen if chosen is not None and chosen.kind == "pec" else self.pec
            if pec is not None and not doc_type.by_pec:
                return pec, "PEC: mancata consegna SdI e l'indirizzo del destinatario è PEC", warnings
            if pec is not None:
                return pec, "PEC: il tipo va via PEC e l'indirizzo del destinatario è PEC", warnings
            warnings.append("Il tipo va via PEC ma non c'è un account PEC attivo: uso l'account ordinario")
        ordinary = chosen if chosen is not None and chosen.kind != "pec" else self.ordinary
        if ordinary is None:
            return None, "Nessun account ordinario attivo", [*warnings, "Configura un account di invio"]
        if doc_type.by_pec:
            reason = "Ordinario: il tipo va via PEC ma l'indirizzo del destinatario non è PEC"
        elif contact.is_pec:
            reason = "Ordinario: il tipo non è impostato per la PEC"
        else:
            reason = "Ordinario"
        if chosen is not None and chosen.kind != "pec":
            reason += f" (account del tipo: {chosen.name})"
        return ordinary, reason, warnings


class Router:
    """Turns documents into deliveries for one batch."""

    def __init__(self, batch: Batch, unpreparable: dict[int, str] | None = None):
        from .. import preferences  # imported here: the campaigns package it uses imports preparation
        from ..campaigns.unsubscribe import public_base_url
        from ..mail_templates import build_context, document_context, render_for, template_language

        self.batch = batch
        self.unpreparable = dict(unpreparable or {})  # document id -> why it cannot be prepared
        self.set_aside: set[int] = set()  # documents whose "non preparabile" row is written
        self.document_context = document_context
        self.build_context = build_context
        self.render_for = render_for
        self.template_language = template_language
        self.picker = AccountPicker()
        self.preferences = preferences
        self.base_url = public_base_url(batch)
        self.types = {t.code: t for t in db.session.scalars(select(DocumentType))}
        self.user = db.session.get(User, batch.created_by_id) if batch.created_by_id else None
        # Grouped types: (contact, type) -> documents, written at the end.
        self.groups: OrderedDict[tuple[int, str], list[Document]] = OrderedDict()
        self.contacts: dict[int, Contact] = {}
        self.sizes: dict[int, int] = {}  # document id -> bytes of its attachments
        self.previous: dict[int, list[tuple]] = {}  # document id -> earlier sends (see earlier_sends)
        self.sdi_fates: dict = {}  # document id -> its latest RC/MC/NS notification (sdi.fates)

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
        self.sdi_fates.update(sdi.fates(d for d in documents if d.sdi_file_name))
        for document in documents:
            if document.id not in self.unpreparable:
                try:  # the document's own data, as every e-mail template reads it
                    self.document_context(document, self.template_language(document.party))
                except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
                    self.unpreparable[document.id] = f"dati non validi: {type(exc).__name__}: {exc}"
            if document.id in self.unpreparable:
                self._unpreparable(document)
                continue
            doc_type = self.types[document.type_code]
            if self._held_for_sdi(document, doc_type):
                continue
            contacts = recipients.get((document.party_id, document.type_code), [])
            if not contacts:
                self._no_recipient(document)
                continue
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
            from ..document_extra import validate_extra

            fields: dict[str, str] = {}
            validate_extra(document.extra, fields)
            if fields:
                reason = "; ".join(f"{k}: {v}" for k, v in list(fields.items())[:5]) + f" ({reason})"
        self._set_aside(
            document,
            "excluded",
            UNPREPARABLE,
            f"{document.type_code} {document.number}: non preparabile, {reason}"[:1000].rstrip(".")
            + ". Correggi i dati nel gestionale e preparalo di nuovo.",
        )

    def _held_for_sdi(self, document: Document, doc_type: DocumentType) -> bool:
        """Set aside a document the SdI discarded (NS), or one still waiting for its outcome when the type
        waits for it; True when set aside. A later preparation takes it once an RC or MC has arrived."""
        fate = self.sdi_fates.get(document.id)
        label = f"{document.type_code} {document.number} del {document.date:%d/%m/%Y}"
        if fate is not None and fate.kind == "NS":
            reason = sdi.SDI_DISCARDED
            warning = f"{label}: {sdi.discard_reason(fate)}. Correggi la fattura ed emettila di nuovo."
        elif fate is None and doc_type.wait_for_sdi and doc_type.code in sdi.SDI_TYPES:
            reason = sdi.SDI_WAITING
            warning = (
                f"{label}: in attesa dell'esito SdI {sdi.waiting_days(document)}; partirà con una prossima "
                "preparazione quando arriva la ricevuta di consegna o di mancata consegna"
            )
        else:
            return False
        self._set_aside(document, "excluded", reason, warning[:2000])
        return True

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
        self._set_aside(
            document, "norecipient", "Nessun contatto attivo con e-mail riceve questo tipo di documento"
        )

    def _set_aside(self, document: Document, status: str, reason: str, warning: str | None = None) -> None:
        """A delivery without a recipient that records why this document does not leave (the batch lists it)."""
        delivery = Delivery(
            batch_id=self.batch.id,
            party_id=document.party_id,
            status=status,
            exclusion_reason=reason,
            subject="",
            privacy_level=0,
        )
        if warning is not None:
            delivery.warnings = [warning]
        delivery.documents = [document]
        db.session.add(delivery)

    def _delivery(
        self, contact: Contact, doc_type: DocumentType, documents: list[Document]
    ) -> Delivery | None:
        """One message to one contact (None when its e-mail cannot be rendered: its documents are set aside)."""
        sdi_mc = any((fate := self.sdi_fates.get(d.id)) is not None and fate.kind == "MC" for d in documents)
        account, reason, warnings = self.picker.pick(doc_type, contact, sdi_mc=sdi_mc)
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
        html, text = rendered.html, rendered.text
        if self.preferences.link_wanted(doc_type):
            url = self.preferences.preferences_url(party.id, contact.email, self.base_url)
            html, text = self.preferences.add_link(html, text, url)
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
            body_html=html,
            body_text=text,
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
        resent = resend_warnings(documents, self.previous)  # no addresses: see resend_notes
        warnings.extend(resent)
        if resent:
            delivery.already_sent_at = max(
                when for d in documents for when, _, _ in self.previous.get(d.id, [])
            )
        delivery.warnings = warnings
        db.session.add(delivery)
        return delivery


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
    before = db.session.execute(routed).scalar_one()
    router = Router(batch)
    router.route(doc_ids)
    router.finish()
    db.session.flush()
    created = db.session.execute(routed).scalar_one() - before
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
