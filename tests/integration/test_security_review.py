"""Holes found by a security review, each pinned by the test that showed it.

Every test here failed before its fix: a contact silently declassified by the API, a template that
could exhaust the web server's memory, the end-of-batch e-mail naming recipients above the
reader's clearance, an administrator raising their own clearance, decisions taken on a stale
batch (approve after reject, include after approval, resend after «inviato»), and sending commands
open to a manager who may not send every type in the batch.
"""

from __future__ import annotations

import tracemalloc

import pytest

from mailer.extensions import db
from tests.conftest import PASSWORD


def _account():
    """A sending account (never contacted by these tests)."""
    from mailer.models import MailAccount

    account = MailAccount(
        name="Prova",
        kind="smtp",
        host="127.0.0.1",
        port=1,
        tls_mode="none",
        from_address="fatture@azienda.example",
        is_default=True,
    )
    db.session.add(account)
    db.session.flush()
    return account


# ---------------------------------------------------------------- API: privacy level kept on update


def test_api_contact_update_without_privacy_level_keeps_the_level(app, client):
    """An ERP updating a phone number must not declassify a confidential contact to «pubblico»."""
    from mailer.api.routes import hash_token
    from mailer.models import API_SCOPES, ApiToken, Contact

    secret = "rk_test_review_" + "y" * 24
    with app.app_context():
        db.session.add(
            ApiToken(
                name="erp",
                token_hash=hash_token(secret),
                prefix=secret[:10],
                scopes=",".join(API_SCOPES),
                privacy_clearance=3,
            )
        )
        db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    client.post("/api/v1/parties", headers=headers, json={"code": "C0001", "name": "Alfa S.r.l."})
    created = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=headers,
        json={"name": "Direzione", "email": "direzione@alfa.example", "privacy_level": 3},
    )
    assert created.status_code == 201, created.get_json()
    updated = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=headers,
        json={"email": "direzione@alfa.example", "phone": "02 1234567"},
    )
    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["privacy_level"] == 3
    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.email == "direzione@alfa.example"))
        assert contact.privacy_level == 3 and contact.phone == "02 1234567"
    lowered = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=headers,
        json={"email": "direzione@alfa.example", "privacy_level": 1},
    )
    assert lowered.get_json()["privacy_level"] == 1  # said explicitly: applied


# ---------------------------------------------------------------- template sandbox: memory


@pytest.mark.parametrize(
    "source",
    [
        '{{ range(1000)|join(range(1000)|join("x"*100)) }}',
        '{{ (range(1000)|join("x"*100)).split("x")|join(range(1000)|join("y"*100)) }}',
        # Many references to one long string are cheap to hold, not to print, join or concatenate.
        '{{ [range(1000)|join("x"*100)] * 1000 }}',
        '{{ ([""] * 10000)|map("default", range(1000)|join("x"*100), true)|list }}',
        '{{ (([""] * 10000)|map("default", range(1000)|join("x"*100), true)|list) ~ "" }}',
        '{{ ([""] * 10000)|map("default", range(1000)|join("x"*100), true)|list|string }}',
        '{{ ([""] * 10000)|map("default", range(1000)|join("x"*100), true)|join }}',
    ],
)
def test_nested_join_cannot_exhaust_memory(app_ctx, source):
    """A join whose result would be far beyond any e-mail is refused before it is built.

    Before: 100 million characters were built in memory and only then found too long; two more
    levels of nesting (same source length) asked for terabytes and took the web process down.
    The campaign texts of sales users run in the same sandbox.
    """
    from mailer.services import campaigns as campaign_svc
    from mailer.services import mail_templates as mt

    tracemalloc.start()
    try:
        errors = mt.validate_template("Fattura {{ documento.numero }}", source, "Testo", "FATTURA")
        campaign_errors = campaign_svc.validate_texts("Novità", source, commercial=True)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert errors and campaign_errors
    assert any("troppo lung" in str(e) for e in errors), [str(e) for e in errors]
    assert peak < 20 * 1024 * 1024, f"picco di memoria {peak // 1048576} MB"


def test_ordinary_join_still_works(app_ctx):
    """Joining the lines of a document stays allowed."""
    from mailer.services import mail_templates as mt

    errors = mt.validate_template("Fattura", "{{ range(50)|join(', ') }}", "Testo", "FATTURA")
    assert errors == []


# ---------------------------------------------------------------- end-of-batch e-mail


def test_batch_summary_mail_names_only_recipients_within_each_readers_clearance(app_ctx, smtp_server):
    """The preparer (clearance 0) is told about the failure of a level-3 recipient only as a number.

    Each reader gets their own message through the company's account (a real SMTP server, not an outbox)."""
    from mailer.models import Batch, Delivery
    from mailer.services.batch_summary import send_batch_summary
    from mailer.services.users import create_user
    from tests.support.batches import make_account

    preparer = create_user(
        "prepara", PASSWORD, roles=["operator"], email="prepara@azienda.example", clearance=0
    )
    approver = create_user(
        "approva", PASSWORD, roles=["manager"], email="approva@azienda.example", clearance=3
    )
    db.session.flush()
    account = make_account(smtp_server, is_default=True)
    batch = Batch(
        kind="documents",
        name="Fatture",
        status="done",
        type_codes=["FATTURA"],
        created_by_id=preparer.id,
        approved_by_id=approver.id,
    )
    db.session.add(batch)
    db.session.flush()
    for email, name, level, status in (
        ("pubblico@cliente.example", "Paolo Pubblico", 0, "failed"),
        ("segreto@cliente.example", "Carla Riservatissima", 3, "failed"),
        ("ok@cliente.example", "Ok", 0, "sent"),
    ):
        db.session.add(
            Delivery(
                batch_id=batch.id,
                recipient_email=email,
                recipient_name=name,
                privacy_level=level,
                account_id=account.id,
                status=status,
                subject="Fattura",
                body_text="x",
                smtp_code=550 if status == "failed" else 250,
                smtp_reason="Mailbox unavailable",
            )
        )
    db.session.commit()
    assert send_batch_summary(batch.id) == "sent"
    by_reader = {tuple(m.rcpt_tos): m for m in smtp_server.messages}
    low = by_reader[("prepara@azienda.example",)].message
    high = by_reader[("approva@azienda.example",)].message
    low_parts = [low["Subject"]] + [p.get_content() for p in low.walk() if not p.is_multipart()]
    for part in low_parts:
        part = part if isinstance(part, str) else part.decode("utf-8")
        assert "segreto@cliente.example" not in part and "Riservatissima" not in part
    assert "pubblico@cliente.example" in low.get_body(("plain",)).get_content()
    assert "1 fallito" in low["Subject"]  # the hidden failure is not counted either (and the plural is right)
    assert (
        "segreto@cliente.example" in high.get_body(("plain",)).get_content()
        and "2 falliti" in high["Subject"]
    )


# ---------------------------------------------------------------- administrators and clearance


@pytest.fixture
def low_admin(client, auth):
    """An administrator at clearance 1 (logged in on `client`)."""
    auth.login("admin", clearance=1)
    return client


def _user_id(app, username):
    from mailer.models import User

    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.username == username))


def test_admin_cannot_raise_their_own_clearance(app, low_admin):
    """An administrator at «interno» cannot make themselves «confidenziale» (and so read everything)."""
    from mailer.models import User

    me = _user_id(app, "admin")
    response = low_admin.post(
        f"/admin/users/{me}",
        data={
            "full_name": "Admin",
            "email": "",
            "roles": ["admin"],
            "clearance": "3",
            "send_types": ["FATTURA"],
            "active": "1",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(User, me).privacy_clearance == 1


def test_admin_cannot_create_a_user_above_their_clearance(app, low_admin):
    """Nor create an accomplice at a higher level (the same rule as API tokens)."""
    response = low_admin.post(
        "/admin/users/new",
        data={
            "username": "complice",
            "full_name": "Complice",
            "email": "",
            "roles": ["operator"],
            "clearance": "3",
            "send_types": ["FATTURA"],
            "active": "1",
            "password": "una-password-lunga",
            "password2": "una-password-lunga",
        },
    )
    assert response.status_code == 422
    assert _user_id(app, "complice") is None
    ok = low_admin.post(
        "/admin/users/new",
        data={
            "username": "collega",
            "full_name": "Collega",
            "email": "",
            "roles": ["operator"],
            "clearance": "1",
            "send_types": ["FATTURA"],
            "active": "1",
            "password": "una-password-lunga",
            "password2": "una-password-lunga",
        },
    )
    assert ok.status_code == 302


def test_admin_cannot_take_over_a_user_above_their_clearance(app, low_admin, make_user):
    """Resetting the password (or the e-mail, where the batch summaries go) of a higher user is refused."""
    from mailer.models import User

    make_user("direttore", roles=["manager"], clearance=3)
    target = _user_id(app, "direttore")
    reset = low_admin.post(
        f"/admin/users/{target}/password",
        data={"password": "una-password-lunga", "password2": "una-password-lunga"},
    )
    assert reset.status_code == 403
    edit = low_admin.post(
        f"/admin/users/{target}",
        data={
            "full_name": "Direttore",
            "email": "admin-basso@azienda.example",
            "roles": ["manager"],
            "clearance": "3",
            "send_types": ["FATTURA"],
            "active": "1",
        },
    )
    assert edit.status_code == 403
    with app.app_context():
        assert db.session.get(User, target).email == ""


# ---------------------------------------------------------------- stale decisions (double click, two people at once)


def _elsewhere(sql: str, **params) -> None:
    """What another request commits meanwhile, on its own connection."""
    import sqlalchemy as sa

    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _ready_batch(preparer_id: int):
    """A batch waiting for approval with one pending delivery."""
    from mailer.models import Batch, Delivery

    account = _account()
    batch = Batch(
        kind="documents", name="Fatture", status="ready", type_codes=["FATTURA"], created_by_id=preparer_id
    )
    db.session.add(batch)
    db.session.flush()
    db.session.add(
        Delivery(
            batch_id=batch.id,
            recipient_email="a@cliente.example",
            account_id=account.id,
            status="pending",
            subject="Fattura",
            body_text="x",
        )
    )
    db.session.add(
        Delivery(
            batch_id=batch.id,
            recipient_email="b@cliente.example",
            account_id=account.id,
            status="excluded",
            exclusion_reason="Escluso da prepara",
            subject="Fattura",
            body_text="x",
        )
    )
    db.session.commit()
    return batch


@pytest.mark.parametrize("meanwhile", ["approved", "rejected", "cancelled", "sending"])
def test_a_stale_batch_is_not_approved_again(app_ctx, meanwhile):
    """The page said «ready»; another manager approved, rejected or cancelled it since: the click is refused.

    Before, the second approval overwrote the state: a rejected batch (whose documents are free again
    for a new batch) or a cancelled one came back "approved", ready to be sent.
    """
    from mailer.models import Batch
    from mailer.services import approval
    from mailer.services.users import create_user

    preparer = create_user("prepara", PASSWORD, roles=["operator"], clearance=3)
    manager = create_user("approva", PASSWORD, roles=["manager"], clearance=3, send_types=["FATTURA"])
    db.session.commit()
    batch = _ready_batch(preparer.id)
    batch_id = batch.id
    assert batch.status == "ready"  # loaded, as the request loads it
    _elsewhere("UPDATE batches SET status = :s WHERE id = :id", s=meanwhile, id=batch_id)
    with pytest.raises(approval.ApprovalError):
        approval.approve_batch(batch, manager)
    db.session.expire_all()
    assert db.session.get(Batch, batch_id).status == meanwhile


def test_a_stale_batch_is_not_rejected_after_approval(app_ctx):
    """Nor rejected once approved (its documents would be offered again while it sends)."""
    from mailer.models import Batch
    from mailer.services import approval
    from mailer.services.users import create_user

    manager = create_user("approva", PASSWORD, roles=["manager"], clearance=3, send_types=["FATTURA"])
    db.session.commit()
    batch = _ready_batch(manager.id)
    _elsewhere("UPDATE batches SET status = 'approved' WHERE id = :id", id=batch.id)
    with pytest.raises(approval.ApprovalError):
        approval.reject_batch(batch, manager, "errato")
    db.session.expire_all()
    assert db.session.get(Batch, batch.id).status == "approved"


def test_include_after_approval_changes_nothing(app_ctx):
    """An operator's include, loaded before the approval and saved after it, does not add a recipient."""
    from mailer.models import Delivery
    from mailer.services import approval
    from mailer.services.users import create_user

    operator = create_user("prepara", PASSWORD, roles=["operator"], clearance=3)
    db.session.commit()
    batch = _ready_batch(operator.id)
    excluded = db.session.scalar(
        db.select(Delivery.id).where(Delivery.batch_id == batch.id, Delivery.status == "excluded")
    )
    _elsewhere("UPDATE batches SET status = 'approved' WHERE id = :id", id=batch.id)
    approval.set_excluded(batch, [excluded], False, operator)
    db.session.expire_all()
    assert db.session.get(Delivery, excluded).status == "excluded"


def test_uncertain_delivery_marked_sent_meanwhile_is_not_resent(app_ctx):
    """One manager marks an uncertain delivery as sent, another (page loaded before) asks to resend it."""
    from mailer.models import Delivery
    from mailer.services import sending
    from mailer.services.users import create_user

    manager = create_user("approva", PASSWORD, roles=["manager"], clearance=3)
    db.session.commit()
    batch = _ready_batch(manager.id)
    delivery = db.session.scalar(
        db.select(Delivery).where(Delivery.batch_id == batch.id, Delivery.status == "pending")
    )
    _elsewhere("UPDATE batches SET status = 'done' WHERE id = :id", id=batch.id)
    _elsewhere("UPDATE deliveries SET status = 'uncertain' WHERE id = :id", id=delivery.id)
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == "uncertain"
    _elsewhere("UPDATE deliveries SET status = 'sent' WHERE id = :id", id=delivery.id)
    with pytest.raises(sending.SendingError):
        sending.resolve_uncertain(delivery, "resend", manager)
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status == "sent"


# ---------------------------------------------------------------- send permission on every type of the batch


@pytest.mark.parametrize(
    "command, status", [("invia", "approved"), ("riprendi", "paused"), ("ritenta", "done")]
)
def test_mixed_batches_need_permission_for_every_type(app, client, auth, command, status):
    """A manager who may send invoices only cannot open a batch of invoices and DDT, nor send it."""
    from mailer.models import Batch, Delivery

    with app.app_context():
        account = _account()
        batch = Batch(kind="documents", name="Misto", status=status, type_codes=["FATTURA", "DDT"])
        db.session.add(batch)
        db.session.flush()
        db.session.add(
            Delivery(
                batch_id=batch.id,
                recipient_email="a@cliente.example",
                account_id=account.id,
                status="failed" if status == "done" else "pending",
                subject="DDT",
                body_text="x",
            )
        )
        db.session.commit()
        batch_id = batch.id
    auth.login("manager", send_types=["FATTURA"])
    assert client.get(f"/invii/{batch_id}").status_code == 403  # its pages show the DDT too
    assert f"/invii/{batch_id}" not in client.get("/invii/").get_data(as_text=True)
    response = client.post(f"/invii/{batch_id}/{command}")
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == status


def test_mixed_batch_previews_and_pdfs_need_every_type(app, client, auth):
    """The DDT message of a mixed batch (its preview, body and PDF) stays out of reach of a user who may
    send invoices only; a user with both types reaches it."""
    from mailer.models import Delivery
    from tests.support.batches import make_sending_batch

    with app.app_context():
        batch = make_sending_batch(_account(), ["log@cliente.example"], status="ready")
        batch.type_codes = ["FATTURA", "DDT"]
        db.session.commit()
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
        batch_id, delivery_id, document_id = batch.id, delivery.id, delivery.documents[0].id
    urls = [
        f"/invii/{batch_id}/recapiti/{delivery_id}",
        f"/invii/{batch_id}/recapiti/{delivery_id}/corpo",
        f"/invii/{batch_id}/recapiti/{delivery_id}/documenti/{document_id}.pdf",
    ]
    auth.login("fatture", roles=["manager"], clearance=3, send_types=["FATTURA"])
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    auth.logout()
    auth.login("entrambi", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT"])
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
