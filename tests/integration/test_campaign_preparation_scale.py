"""Campaign preparation at scale: a fixed number of queries and one template compilation, whatever the
number of recipients (benchmarks/campaign.py measures 100,000 of them)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from mailer.extensions import db
from mailer.models import Batch, Contact, Delivery, MailAccount, Party
from tests.support.queries import QueryCounter

PARTIES, PER_PARTY = 60, 5


@pytest.fixture
def crowd(app, make_user):
    """60 customers with 5 contacts each: every 10th without consent, every 30th a PEC address,
    every 50th (2, 52, …) repeating the previous address; a sales user, an account and an all-customers filter."""
    from tests.support.campaigns import make_filter

    user_id = make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        now = datetime(2026, 11, 30, 10, 0)
        conn = db.session.connection()
        conn.execute(
            Party.__table__.insert(),
            [
                {
                    "erp_code": f"C{i:03d}",
                    "kind": "customer",
                    "name": f"Cliente {i:03d} S.r.l.",
                    "active": True,
                }
                | {"created_at": now, "updated_at": now}
                for i in range(1, PARTIES + 1)
            ],
        )
        party_ids = sorted(db.session.scalars(db.select(Party.id).where(Party.erp_code.like("C%"))))
        rows = []
        for n in range(1, PARTIES * PER_PARTY + 1):
            rows.append(
                {
                    "party_id": party_ids[(n - 1) // PER_PARTY],
                    "name": f"Persona {n}",
                    "email": f"p{n - 1 if n % 50 == 2 else n}@example.com",
                    "is_pec": n % 30 == 0,
                    "marketing_consent": n % 10 != 0,
                    "privacy_level": 0,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        conn.execute(Contact.__table__.insert(), rows)
        account = MailAccount(
            name="Commerciale",
            kind="smtp",
            host="127.0.0.1",
            port=2525,
            from_address="vendite@azienda.example",
        )
        db.session.add(account)
        db.session.commit()
        flt = make_filter(
            [{"type": "kind", "value": "customer"}], user_id, name="Tutti i clienti", shared=True
        )
        ids = {"user": user_id, "filter": flt.id, "account": account.id}
        db.session.remove()
    return ids


def _campaign(crowd):
    """A commercial campaign to the crowd, recorded but not yet prepared; its batch id."""
    from mailer.models import User
    from mailer.services import campaigns

    campaign = campaigns.create_campaign(
        db.session.get(User, crowd["user"]),
        name="Listino",
        filter_id=crowd["filter"],
        document_ids=[],
        subject="Listino per {{ anagrafica.ragione_sociale }}",
        body_html="<p>Gentile {{ contatto.nome }} di {{ anagrafica.ragione_sociale }}: il {{ campagna.nome }}.</p>",
        commercial=True,
        account_id=crowd["account"],
        base_url="https://recapito.example",
        enqueue=False,
    )
    return campaign.batch_id


def test_queries_do_not_grow_with_recipients(app, crowd):
    """300 contacts on 60 parties are prepared in a handful of statements: no query per contact or party
    (the parties were lazy-loaded one by one, each delivery was its own INSERT)."""
    from mailer.services import campaigns

    with app.app_context():
        batch_id = _campaign(crowd)
        db.session.remove()
        with QueryCounter(db.engine) as counter:
            batch = campaigns.run_preparation(batch_id)
        assert batch.status == "ready", batch.error
        made = db.session.scalar(
            db.select(db.func.count(Delivery.id)).where(
                Delivery.batch_id == batch_id, Delivery.status == "pending"
            )
        )
        # 300 contacts: 10 PEC (counted as such, though also without consent), 20 more without consent,
        # 6 repeated addresses
        assert made == 300 - 10 - 20 - 6
        assert counter.count <= 30, counter.count


def test_templates_compiled_once_per_preparation(app, crowd, monkeypatch):
    """The subject and the body are parsed and compiled once, not once per recipient."""
    from mailer.services import campaigns
    from mailer.services import mail_templates as mt

    calls = []
    original = mt.compile_checked

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(mt, "compile_checked", counting)
    with app.app_context():
        batch_id = _campaign(crowd)
        calls.clear()
        assert campaigns.run_preparation(batch_id).status == "ready"
        assert len(calls) <= 2, calls


def test_each_recipient_gets_own_texts_and_links(app, crowd):
    """Rendering once per template still gives each recipient their own name, company, unsubscribe link
    (their own signed token, also in List-Unsubscribe) and preferences link; exclusions are counted."""
    from mailer.services import campaigns

    with app.app_context():
        batch_id = _campaign(crowd)
        campaigns.run_preparation(batch_id)
        db.session.remove()
        batch = db.session.get(Batch, batch_id)
        assert batch.progress_done == batch.progress_total == PARTIES * PER_PARTY
        assert {k: sum(v.values()) for k, v in batch.params["exclusions"].items()} == {
            "no_consent": 20,
            "pec": 10,
            "duplicate": 6,
        }
        tokens = set()
        for delivery in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id)):
            contact = db.session.get(Contact, delivery.contact_id)
            assert delivery.recipient_email == contact.email
            assert delivery.party_id == contact.party_id
            assert delivery.subject == f"Listino per {contact.party.name}"
            assert f"Gentile {contact.name} di {contact.party.name}" in delivery.body_html
            link = re.search(
                r'href="(https://recapito\.example/campagne/disiscrizione/[^"]+)"', delivery.body_html
            )
            assert link and delivery.extra_headers["List-Unsubscribe"] == f"<{link.group(1)}>"
            assert campaigns.contact_from_token(link.group(1).rsplit("/", 1)[1]).id == contact.id
            tokens.add(link.group(1))
            assert "preferenze" in delivery.body_html and "-- \n" in delivery.body_text
            assert delivery.size_bytes > len(delivery.body_html)
        assert len(tokens) == 300 - 36


def test_message_over_the_account_limit_is_marked(app, crowd):
    """A message bigger than the account allows keeps its row, marked with the reason and a warning
    (written in bulk like the others)."""
    from mailer.services import campaigns

    with app.app_context():
        db.session.get(MailAccount, crowd["account"]).max_message_bytes = 1000
        db.session.commit()
        batch_id = _campaign(crowd)
        campaigns.run_preparation(batch_id)
        rows = db.session.execute(
            db.select(Delivery.status, Delivery.exclusion_reason, Delivery.warnings).where(
                Delivery.batch_id == batch_id
            )
        ).all()
        assert len(rows) == 264
        assert {(r.status, r.exclusion_reason) for r in rows} == {("pending", "troppo grande")}
        assert rows[0].warnings == ["Messaggio troppo grande per l'account Commerciale"]
