"""Builders for batches and deliveries, for the sending tests (rows written directly)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

from flask import has_app_context
from rq import Queue, SimpleWorker

from mailer.extensions import db
from mailer.models import Batch, Contact, Delivery, Document, DocumentType, MailAccount, Party
from mailer.queue import get_redis
from mailer.services.blobs import store_blob
from mailer.services.crypto import encrypt_secret


def make_account(server, name="Ordinario", kind="smtp", **limits) -> MailAccount:
    """A sending account pointing at the loopback test server."""
    password = limits.pop("password", "")
    account = MailAccount(
        name=name,
        kind=kind,
        host=server.host,
        port=server.port,
        tls_mode="none",
        username=limits.pop("username", ""),
        password_encrypted=encrypt_secret(password),
        from_address=limits.pop("from_address", "fatture@azienda.example"),
        from_name="Azienda di prova",
        max_connections=limits.pop("max_connections", 2),
        rate_per_minute=limits.pop("rate_per_minute", 100000),
        rate_per_day=limits.pop("rate_per_day", 1000000),
        **limits,
    )
    db.session.add(account)
    db.session.flush()
    return account


def make_sending_batch(
    account: MailAccount, recipients: list[str], status="approved", user_id=None, with_pdf=True
) -> Batch:
    """An approved batch with one invoice per recipient, each with a small PDF."""
    batch = Batch(
        kind="documents", name="Prova", status=status, type_codes=["FATTURA"], created_by_id=user_id
    )
    db.session.add(batch)
    db.session.flush()
    for i, address in enumerate(recipients, start=1):
        party = Party(erp_code=f"C{batch.id:03d}{i:05d}", name=f"Cliente {i} S.r.l.", kind="customer")
        db.session.add(party)
        db.session.flush()
        contact = Contact(party_id=party.id, name=f"Ufficio {i}", email=address)
        db.session.add(contact)
        pdf = (
            store_blob(b"%PDF-1.4\n% fattura " + str(i).encode() + b"\n%%EOF\n", "application/pdf")
            if with_pdf
            else None
        )
        document = Document(
            type_code="FATTURA",
            number=f"{batch.id}-{i}",
            year=2026,
            date=date(2026, 11, 3),
            party_id=party.id,
            total=Decimal("122.00"),
            pdf_sha256=pdf,
        )
        db.session.add(document)
        db.session.flush()
        delivery = Delivery(
            batch_id=batch.id,
            party_id=party.id,
            contact_id=contact.id,
            recipient_email=address,
            recipient_name=contact.name,
            account_id=account.id,
            status="pending",
            subject=f"Fattura n. {document.number}",
            body_text="In allegato la fattura.",
            body_html="<p>In allegato la fattura.</p>",
        )
        delivery.documents = [document]
        db.session.add(delivery)
    db.session.commit()
    return batch


def make_slow_batch(smtp_server, recipients: list[str], seconds: float) -> Batch:
    """A batch on a one-connection account whose server accepts each message after `seconds`."""
    for address in recipients:
        smtp_server.rules[address] = [("slow", seconds)]
    return make_sending_batch(make_account(smtp_server, max_connections=1), recipients)


def statuses(batch_id: int) -> dict[str, str]:
    """recipient -> status."""
    rows = db.session.execute(
        db.select(Delivery.recipient_email, Delivery.status).where(Delivery.batch_id == batch_id)
    ).all()
    return dict(rows)


__all__ = ["DocumentType", "make_account", "make_sending_batch", "make_slow_batch", "statuses"]


def make_party_with_contacts(code: str, contacts: list[dict], kind="customer", language="it") -> Party:
    """A party with contacts; each dict: name, email, types (codes), is_pec, privacy_level, active."""
    from mailer.models import DocumentType as DT

    party = Party(
        erp_code=code, name=f"{code} S.p.A.", kind=kind, language=language, city="Milano", province="MI"
    )
    db.session.add(party)
    db.session.flush()
    for spec in contacts:
        contact = Contact(
            party_id=party.id,
            name=spec.get("name", "Ufficio"),
            email=spec.get("email", ""),
            is_pec=spec.get("is_pec", False),
            privacy_level=spec.get("privacy_level", 0),
            active=spec.get("active", True),
        )
        contact.document_types = list(
            db.session.scalars(db.select(DT).where(DT.code.in_(spec.get("types", []))))
        )
        db.session.add(contact)
    db.session.flush()
    return party


def make_document(
    party: Party, type_code="FATTURA", number="1", day=None, total="122.00", with_pdf=False
) -> Document:
    """A document with two lines (rendered to PDF by the preparation unless with_pdf)."""
    from mailer.models import DocumentLine

    day = day or date(2026, 11, 10)
    document = Document(
        type_code=type_code,
        number=number,
        year=day.year,
        date=day,
        party_id=party.id,
        total_net=Decimal(total) / Decimal("1.22"),
        total_vat=Decimal(total) - Decimal(total) / Decimal("1.22"),
        total=Decimal(total),
        due_dates=[{"date": "2026-12-31", "amount": total}],
    )
    document.lines = [
        DocumentLine(
            line_no=1,
            product_code="ART-1",
            description="Bulloni M8 zincati",
            quantity=Decimal("10"),
            unit="PZ",
            unit_price=Decimal("5"),
            vat_rate=Decimal("22"),
            amount=Decimal("50"),
        ),
        DocumentLine(
            line_no=2,
            product_code="ART-2",
            description="Dadi M8",
            quantity=Decimal("10"),
            unit="PZ",
            unit_price=Decimal("5"),
            vat_rate=Decimal("22"),
            amount=Decimal("50"),
        ),
    ]
    if with_pdf:
        document.pdf_sha256 = store_blob(b"%PDF-1.4\n%% " + number.encode() + b"\n%%EOF\n", "application/pdf")
    db.session.add(document)
    db.session.flush()
    return document


def office_data(smtp_server) -> dict:
    """Two accounts (ordinary, PEC), three parties with contacts, invoices, DDTs and a dunning letter."""
    ordinary = make_account(smtp_server, name="Ordinario", is_default=True)
    pec = make_account(smtp_server, name="PEC", kind="pec", from_address="azienda@pec.example")
    db.session.get(DocumentType, "INSOLUTO").by_pec = True
    alfa = make_party_with_contacts(
        "ALFA",
        [
            {"name": "Amministrazione", "email": "amm@alfa.example", "types": ["FATTURA", "INSOLUTO"]},
            {"name": "Magazzino", "email": "log@alfa.example", "types": ["DDT"]},
            {"name": "PEC", "email": "alfa@pec.it", "is_pec": True, "types": ["INSOLUTO"]},
            {"name": "Vecchio", "email": "old@alfa.example", "types": ["FATTURA"], "active": False},
        ],
    )
    beta = make_party_with_contacts("BETA", [{"name": "Senza mail", "email": "", "types": ["FATTURA"]}])
    gamma = make_party_with_contacts(
        "GAMMA",
        [
            {"name": "Riservato", "email": "ceo@gamma.example", "types": ["FATTURA"], "privacy_level": 3},
        ],
        language="en",
    )
    docs = {
        "f1": make_document(alfa, "FATTURA", "F1"),
        "f2": make_document(beta, "FATTURA", "F2"),
        "f3": make_document(gamma, "FATTURA", "F3"),
        "d1": make_document(alfa, "DDT", "D1"),
        "d2": make_document(alfa, "DDT", "D2"),
        "i1": make_document(alfa, "INSOLUTO", "S1"),
        "old": make_document(alfa, "FATTURA", "F0", day=date(2025, 1, 5)),
    }
    db.session.commit()
    return {
        "ordinary": ordinary.id,
        "pec": pec.id,
        "docs": {k: v.id for k, v in docs.items()},
        "parties": {"alfa": alfa.id, "beta": beta.id, "gamma": gamma.id},
    }


def run_jobs(app, max_wait: float = 10.0, pause: float = 0.2) -> None:
    """Run queued jobs, and scheduled ones as they fall due (up to max_wait s), with burst workers.

    Works inside or outside an application context; the session is removed after each round.
    """
    if not has_app_context():
        with app.app_context():
            return run_jobs(app, max_wait, pause)
    redis = get_redis()
    queue = Queue(app.config["RQ_QUEUE"], connection=redis)
    deadline = time.monotonic() + max_wait
    while True:
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=True)
        db.session.remove()
        if (
            queue.count == 0 and not queue.scheduled_job_registry.get_job_ids()
        ) or time.monotonic() > deadline:
            return None
        time.sleep(pause)


def reviewed(app, batch_id: int) -> str:
    """The review fingerprint of a batch as it is now (for posts whose refusal is about something else)."""
    from mailer.services.approval import review_fingerprint

    with app.app_context():
        return review_fingerprint(batch_id)


def approve_from_page(client, batch_id: int, send_now: bool = False):
    """Approve as a person does: open the batch page and press its button (the form's fingerprint included)."""
    import re

    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    found = re.search(r'name="reviewed" value="([0-9a-f]+)"', page)
    assert found, "la pagina non offre l'approvazione"
    data = {"reviewed": found.group(1), **({"send_now": "1"} if send_now else {})}
    return client.post(f"/invii/{batch_id}/approva", data=data)


def prepare_by_cli(
    runner,
    *options: str,
    types: tuple[str, ...] = ("FATTURA",),
    start: str = "2026-11-01",
    end: str = "2026-11-30",
    user: str = "op",
    as_json: bool = True,
):
    """`flask batch prepare` for the types and period (November 2026 by default) as `user`; the CLI result."""
    args = ["batch", "prepare"]
    for code in types:
        args += ["--type", code]
    args += ["--from", start, "--to", end, "--user", user, *options]
    if as_json:
        args.append("--json")
    return runner.invoke(args=args)
