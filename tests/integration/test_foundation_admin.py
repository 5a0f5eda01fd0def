"""Admin area: users and permissions, company, sending accounts, «prova connessione», captured mail."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Company, MailAccount, User
from mailer.services.crypto import decrypt_secret
from mailer.services.demo import demo_logo_png
from mailer.transport import capture
from tests.support.company import company_form, save_company_flags
from tests.support.services import free_port

HX = {"HX-Request": "true"}
SECRET = "Segreta-Davvero-42!"


def _user(app, username):
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.username == username))


def _audit_actions(app):
    with app.app_context():
        return [a for (a,) in db.session.execute(db.select(AuditEvent.action).order_by(AuditEvent.id))]


# --- users ------------------------------------------------------------------------------------


def test_create_user_with_permissions(app, client, auth):
    """The new-user form creates the user with roles, send types and clearance, and audits it."""
    auth.login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "Giulia.Riva",
            "full_name": "Giulia Riva",
            "email": "giulia@example.com",
            "roles": ["sales", "operator"],
            "send_types": ["OFFERTA", "GENERICO"],
            "clearance": "2",
            "active": "1",
            "password": "password-lunga-1",
            "password2": "password-lunga-1",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "giulia.riva"))
        assert user.role_list == ["sales", "operator"]
        assert user.send_type_codes == {"OFFERTA", "GENERICO"}
        assert user.privacy_clearance == 2 and user.active
    assert "user.create" in _audit_actions(app)


@pytest.mark.parametrize(
    "form, message",
    [
        ({"password": "corta", "password2": "corta"}, "almeno 10 caratteri"),
        ({"password": "password-lunga-1", "password2": "diversa-lunga-1"}, "non coincidono"),
        ({"roles": []}, "almeno un ruolo"),
        ({"username": "admin"}, "Esiste già"),
        ({"username": "con spazi"}, "solo lettere"),
    ],
)
def test_create_user_validation(app, client, auth, form, message):
    """Invalid input is refused with an Italian message next to the field; nothing is written."""
    auth.login("admin")
    data = {
        "username": "nuovo",
        "roles": ["operator"],
        "clearance": "1",
        "password": "password-lunga-1",
        "password2": "password-lunga-1",
        **form,
    }
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _user(app, "nuovo") is None


def test_inline_edit_returns_row_and_audits(app, client, auth, make_user):
    """The htmx editor returns the edit row, then the saved row; the change is audited with old and new."""
    auth.login("admin")
    user_id = make_user("paolo", roles=["operator"], send_types=["DDT"], clearance=1)
    row_form = client.get(f"/admin/users/{user_id}", headers={**HX, "HX-Target": f"user-{user_id}"})
    assert row_form.get_data(as_text=True).lstrip().startswith(f'<tr id="user-{user_id}" class="editing">')
    saved = client.post(
        f"/admin/users/{user_id}",
        headers={**HX, "HX-Target": f"user-{user_id}"},
        data={
            "full_name": "Paolo Sala",
            "roles": ["operator", "manager"],
            "send_types": ["DDT", "FATTURA"],
            "clearance": "3",
            "active": "1",
        },
    )
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and html.lstrip().startswith(f'<tr id="user-{user_id}"')
    assert "Responsabile" in html and "FATTURA" in html
    user = _user(app, "paolo")
    assert user.privacy_clearance == 3 and user.send_type_codes == {"DDT", "FATTURA"}
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.update"))
        assert event.details["changes"]["clearance"] == [1, 3]
        assert event.details["changes"]["send_types"] == [["DDT"], ["DDT", "FATTURA"]]
        assert event.username == "admin"


def test_full_page_edit_without_htmx(client, auth, make_user):
    """Without htmx the same URL is a page, and saving redirects to the list."""
    auth.login("admin")
    user_id = make_user("paolo")
    page = client.get(f"/admin/users/{user_id}")
    assert "<html" in page.get_data(as_text=True) and "Reimposta la password" in page.get_data(as_text=True)
    response = client.post(f"/admin/users/{user_id}", data={"roles": ["operator"], "clearance": "1"})
    assert response.status_code == 302


@pytest.mark.parametrize("change", [{"roles": ["manager"], "active": "1"}, {"roles": ["admin"]}])
def test_last_admin_cannot_be_demoted_or_deactivated(app, client, auth, change):
    """The only active admin keeps the role and stays active."""
    auth.login("admin")
    admin = _user(app, "admin")
    response = client.post(f"/admin/users/{admin.id}", data={"clearance": "3", **change})
    assert response.status_code == 422
    assert "unico amministratore attivo" in response.get_data(as_text=True)
    admin = _user(app, "admin")
    assert admin.role_list == ["admin"] and admin.active


def test_admin_can_be_demoted_when_another_exists(app, client, auth, make_user):
    """With a second active admin the first one can step down."""
    auth.login("admin")
    make_user("capo", roles=["admin"])
    admin = _user(app, "admin")
    response = client.post(
        f"/admin/users/{admin.id}", data={"roles": ["manager"], "clearance": "3", "active": "1"}
    )
    assert response.status_code == 302
    assert _user(app, "admin").role_list == ["manager"]


def test_deactivating_ends_the_users_sessions(app, client, auth, make_user):
    """A deactivated user's open session stops working at the next request."""
    other = app.test_client()
    make_user("paolo")
    assert (
        other.post("/auth/login", data={"username": "paolo", "password": "password-di-prova"}).status_code
        == 302
    )
    assert other.get("/").status_code == 200
    auth.login("admin")
    client.post(f"/admin/users/{_user(app, 'paolo').id}", data={"roles": ["operator"], "clearance": "1"})
    assert other.get("/").status_code == 302


def test_password_reset(app, client, auth, make_user):
    """The admin sets a new password; the old one stops working; the event is audited without the password."""
    auth.login("admin")
    user_id = make_user("paolo")
    assert (
        client.post(
            f"/admin/users/{user_id}/password", data={"password": "corta", "password2": "corta"}
        ).status_code
        == 422
    )
    response = client.post(
        f"/admin/users/{user_id}/password",
        data={"password": "nuova-password-1", "password2": "nuova-password-1"},
    )
    assert response.status_code == 302
    other = app.test_client()
    assert (
        other.post("/auth/login", data={"username": "paolo", "password": "password-di-prova"}).status_code
        == 401
    )
    assert (
        other.post("/auth/login", data={"username": "paolo", "password": "nuova-password-1"}).status_code
        == 302
    )
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.password_reset"))
        assert "nuova-password-1" not in str(event.details)


# --- company ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vat, ok",
    [
        ("01234567897", False),
        ("IT 06467930159", True),
        ("0646793015", False),
        ("06467930158", False),
        ("", True),
    ],
)
def test_company_vat_number_is_checked(app, client, auth, vat, ok):
    """The P.IVA needs 11 digits and the right check digit (python-stdnum)."""
    auth.login("admin")
    response = client.post(
        "/admin/company",
        data={"name": "Rossi S.r.l.", "vat_number": vat, "province": "mi", "zip_code": "20121"},
    )
    assert response.status_code == (302 if ok else 422)
    if not ok:
        assert "Partita IVA non valida" in response.get_data(as_text=True)
    with app.app_context():
        company = db.session.get(Company, 1)
        assert (company.name == "Rossi S.r.l.") is ok
        if ok:
            assert company.vat_number == vat.replace("IT", "").strip() and company.province == "MI"


def test_sending_rules_are_on_the_company_page_saved_and_audited(app, client, auth):
    """Four eyes (on by default) and soft spam (off) are switches with their explanation; a change is saved
    and audited with old and new values; a post that leaves them out changes neither."""
    auth.login("admin")
    page = client.get("/admin/company").get_data(as_text=True)
    assert re.search(r'<input type="checkbox" role="switch" name="four_eyes" value="1"[^>]*checked>', page)
    assert re.search(
        r'<input type="checkbox" role="switch" name="soft_spam_allowed" value="1"[^>]*"\s*>', page
    )
    assert "diverso da chi l'ha preparato" in page and "art. 130, c. 4" in page
    assert (
        client.post(
            "/admin/company", data=company_form(app, four_eyes=False, soft_spam_allowed=True)
        ).status_code
        == 302
    )
    with app.app_context():
        company = db.session.get(Company, 1)
        assert (company.four_eyes, company.soft_spam_allowed) == (False, True)
        event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "company.update")).one()
        assert event.details["changes"] == {"four_eyes": [True, False], "soft_spam_allowed": [False, True]}
    page = client.get("/admin/company").get_data(as_text=True)
    assert re.search(r'name="four_eyes" value="1"[^>]*"\s*>', page)  # now unticked
    assert re.search(r'name="soft_spam_allowed" value="1"[^>]*checked>', page)
    # a form without the fields (an old page, a script) keeps the rules as they are
    assert client.post("/admin/company", data={"name": "Rossi S.r.l."}).status_code == 302
    # a form with an error keeps what was ticked
    response = client.post("/admin/company", data={**company_form(app, four_eyes=True), "vat_number": "123"})
    assert response.status_code == 422
    assert re.search(r'name="four_eyes" value="1"[^>]*checked>', response.get_data(as_text=True))
    with app.app_context():
        company = db.session.get(Company, 1)
        assert (company.four_eyes, company.soft_spam_allowed, company.name) == (False, True, "Rossi S.r.l.")


def test_four_eyes_switch_decides_whether_the_preparer_may_approve(app, client, auth):
    """With the four-eyes check the manager cannot approve the batch they prepared; switched off on the
    company page, they can."""
    from types import SimpleNamespace

    from mailer.models import Batch
    from tests.support.batches import approve_from_page, make_account, make_sending_batch, reviewed

    manager = _make_manager(app)
    with app.app_context():
        account = make_account(SimpleNamespace(host="127.0.0.1", port=1))
        batch_id = make_sending_batch(
            account, ["ufficio@cliente.example"], status="ready", user_id=manager
        ).id
    auth.login("capo", create=False)
    client.post(f"/invii/{batch_id}/approva", data={"reviewed": reviewed(app, batch_id)})
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    assert "quattro occhi" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    auth.logout()
    auth.login("admin")
    save_company_flags(app, client, four_eyes=False)
    auth.logout()
    auth.login("capo", create=False)
    assert approve_from_page(client, batch_id).status_code == 302
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.status == "approved" and batch.approved_by_id == manager == batch.created_by_id


def _make_manager(app):
    """A manager who may send every type (preparer and, without four eyes, approver)."""
    from mailer.services.users import create_user
    from tests.conftest import ALL_TYPES, PASSWORD

    with app.app_context():
        user = create_user(
            "capo", PASSWORD, full_name="Capo", roles=["manager"], clearance=3, send_types=ALL_TYPES
        )
        db.session.commit()
        return user.id


def test_logo_png_accepted_and_served(app, client, auth):
    """A real PNG is stored as a blob and served back."""
    auth.login("admin")
    png = demo_logo_png()
    response = client.post(
        "/admin/company/logo",
        data={"logo": (__import__("io").BytesIO(png), "logo.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    served = client.get("/admin/company/logo")
    assert served.status_code == 200 and served.data == png and served.mimetype == "image/png"
    assert client.post("/admin/company/logo/remove").status_code == 302
    assert client.get("/admin/company/logo").status_code == 404


@pytest.mark.parametrize(
    "payload, name",
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.png"),
        (b"GIF89a\x01\x00\x01\x00", "logo.jpg"),
        (b"\x89PNG\r\n\x1a\nnot really", "logo.png"),
        (b"", "vuoto.png"),
    ],
)
def test_logo_checked_by_content_not_name(app, client, auth, payload, name):
    """Files that are not really PNG/JPEG are refused, whatever their name says."""
    import io

    auth.login("admin")
    response = client.post(
        "/admin/company/logo", data={"logo": (io.BytesIO(payload), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(Company, 1).logo_sha256 is None


# --- sending accounts --------------------------------------------------------------------------


def _account_form(**overrides):
    form = {
        "name": "Posta ordinaria",
        "kind": "smtp",
        "host": "127.0.0.1",
        "port": "2525",
        "tls_mode": "none",
        "username": "mittente",
        "password": SECRET,
        "from_address": "documenti@example.com",
        "from_name": "Documenti",
        "max_connections": "2",
        "rate_per_minute": "60",
        "rate_per_day": "5000",
        "max_message_mb": "20",
        "max_recipients": "50",
        "imap_host": "",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
    }
    form.update(overrides)
    return form


def _account(app, name="Posta ordinaria"):
    with app.app_context():
        return db.session.scalar(db.select(MailAccount).where(MailAccount.name == name))


def test_account_password_encrypted_never_shown_never_logged(app, client, auth):
    """Stored encrypted; blank on edit keeps it; no page and no audit event contains it."""
    auth.login("admin")
    response = client.post("/admin/accounts/new", data=_account_form())
    assert response.status_code == 302
    account = _account(app)
    assert account.password_encrypted and SECRET not in account.password_encrypted
    with app.app_context():
        assert decrypt_secret(account.password_encrypted) == SECRET
    for url in ["/admin/accounts", f"/admin/accounts/{account.id}"]:
        assert SECRET not in client.get(url).get_data(as_text=True)
    # A blank password field keeps the stored one.
    client.post(
        f"/admin/accounts/{account.id}", data=_account_form(password="", from_name="Ufficio documenti")
    )
    account = _account(app)
    with app.app_context():
        assert decrypt_secret(account.password_encrypted) == SECRET
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.like("account.%"))).all()
        assert [e.action for e in events] == ["account.create", "account.update"]
        assert all(SECRET not in str(e.details) for e in events)
        assert (
            events[0].details["secrets_changed"] == ["password"]
            and events[1].details["secrets_changed"] == []
        )
    assert account.from_name == "Ufficio documenti"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("host", "", "Indica il server"),
        ("port", "70000", "tra 1 e 65535"),
        ("port", "abc", "numero intero"),
        ("from_address", "non-un-indirizzo", "mittente non valido"),
        ("tls_mode", "tls13", "TLS non valida"),
        ("name", "", "Dai un nome"),
        ("rate_per_minute", "0", "tra 1 e"),
    ],
)
def test_account_validation(app, client, auth, field, value, message):
    """Every field is checked; errors are in Italian next to the field; nothing is saved."""
    auth.login("admin")
    response = client.post("/admin/accounts/new", data=_account_form(**{field: value}))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert SECRET not in response.get_data(as_text=True)
    assert _account(app) is None


def test_pec_sender_must_be_the_mailbox(app, client, auth):
    """A PEC account sends From its own mailbox (envelope sender = From)."""
    auth.login("admin")
    response = client.post(
        "/admin/accounts/new",
        data=_account_form(kind="pec", username="azienda@pec.it", from_address="altro@pec.it"),
    )
    assert response.status_code == 422 and "deve coincidere" in response.get_data(as_text=True)


def _make_account(app, client, port, password=SECRET, username="mittente"):
    response = client.post(
        "/admin/accounts/new", data=_account_form(port=str(port), password=password, username=username)
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return _account(app).id


def test_prova_connessione_success(app, client, auth, smtp_server_auth):
    """Against a real SMTP server with AUTH: greeting, EHLO capabilities and 235 are shown."""
    auth.login("admin")
    account_id = _make_account(app, client, smtp_server_auth.port, password="segreta-123")
    response = client.post(f"/admin/accounts/{account_id}/test", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Connessione riuscita" in html
    assert "220" in html and "smtp.test.local" in html  # the greeting
    assert "AUTH LOGIN PLAIN" in html  # EHLO capabilities
    assert "235" in html  # authentication successful
    assert "segreta-123" not in html
    assert "account.test" in _audit_actions(app)


def test_prova_connessione_wrong_password(app, client, auth, smtp_server_auth):
    """A wrong password: the server's 535 and an Italian explanation."""
    auth.login("admin")
    account_id = _make_account(app, client, smtp_server_auth.port, password="sbagliata")
    html = client.post(f"/admin/accounts/{account_id}/test", headers=HX).get_data(as_text=True)
    assert "Connessione non riuscita" in html
    assert "Credenziali rifiutate dal server" in html and "535" in html
    assert "sbagliata" not in html


def test_prova_connessione_nothing_listening(app, client, auth):
    """Nobody on the port: connection refused, said in Italian; without htmx a full page."""
    auth.login("admin")
    port = free_port()
    account_id = _make_account(app, client, port)
    response = client.post(f"/admin/accounts/{account_id}/test")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert f"nessun server in ascolto su 127.0.0.1:{port}" in html


def test_prova_connessione_starttls_not_offered(app, client, auth, smtp_server_auth):
    """STARTTLS asked but not offered: the check stops before sending credentials."""
    auth.login("admin")
    account_id = _make_account(app, client, smtp_server_auth.port, password="segreta-123")
    with app.app_context():
        db.session.get(MailAccount, account_id).tls_mode = "starttls"
        db.session.commit()
    html = client.post(f"/admin/accounts/{account_id}/test", headers=HX).get_data(as_text=True)
    assert "non offre STARTTLS" in html


# --- captured mail -----------------------------------------------------------------------------


@pytest.fixture
def capture_server(app):
    """The capture server of the app, on a free port, writing into the app's CAPTURE_DIR."""
    controller = capture.make_controller(app.config["CAPTURE_DIR"], "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


def _send(controller, subject="Fattura n. 12 del 03/03/2025", html=True):
    message = EmailMessage()
    message["From"] = "Brambilla Forniture <documenti@example.com>"
    message["To"] = "Mario Rossi <mario.rossi@example.com>"
    message["Subject"] = subject
    message.set_content("Gentile cliente,\nin allegato la fattura.\n")
    if html:
        message.add_alternative(
            "<p>Gentile cliente,</p><script>alert(1)</script><p>in allegato la fattura.</p>", subtype="html"
        )
    message.add_attachment(
        b"%PDF-1.4 finto", maintype="application", subtype="pdf", filename="Fattura 12.pdf"
    )
    with smtplib.SMTP(controller.hostname, controller.port, timeout=5) as conn:
        conn.login("qualsiasi", "qualsiasi")  # the sink accepts any credentials without TLS
        conn.send_message(message, to_addrs=["mario.rossi@example.com", "copia@example.com"])


def test_capture_server_keeps_messages_and_page_shows_them(app, client, auth, capture_server):
    """smtplib → capture server → .eml + envelope → list, message page, HTML, attachment, raw."""
    _send(capture_server)
    assert capture.wait_for_messages(app.config["CAPTURE_DIR"], 1) == 1
    auth.login("admin")
    listing = client.get("/admin/captured").get_data(as_text=True)
    assert "Fattura n. 12 del 03/03/2025" in listing and "copia@example.com" in listing
    items, total = capture.list_captured(app.config["CAPTURE_DIR"])
    assert total == 1
    message_id = items[0].id
    page = client.get(f"/admin/captured/{message_id}").get_data(as_text=True)
    assert "MAIL FROM:&lt;documenti@example.com&gt;" in page
    assert "Fattura 12.pdf" in page and "in allegato la fattura" in page
    assert "sandbox" in page and f"/admin/captured/{message_id}/html" in page
    assert "autenticato come" in page
    body = client.get(f"/admin/captured/{message_id}/html")
    csp = body.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert body.mimetype == "text/html"
    attachment = client.get(f"/admin/captured/{message_id}/attachments/0")
    assert attachment.data == b"%PDF-1.4 finto"
    assert attachment.headers["Content-Disposition"].startswith("attachment;")
    raw = client.get(f"/admin/captured/{message_id}/raw")
    assert b"Subject: Fattura n. 12" in raw.data


def test_captured_search_fragment_and_clear(app, client, auth, capture_server):
    """Active search returns only the list fragment; «Svuota» deletes everything."""
    _send(capture_server, "Fattura n. 1")
    _send(capture_server, "DDT n. 7", html=False)
    capture.wait_for_messages(app.config["CAPTURE_DIR"], 2)
    auth.login("admin")
    fragment = client.get("/admin/captured?q=ddt", headers={**HX, "HX-Target": "captured-list"}).get_data(
        as_text=True
    )
    assert "<html" not in fragment and "DDT n. 7" in fragment and "Fattura n. 1" not in fragment
    assert client.post("/admin/captured/clear").status_code == 302
    assert capture.list_captured(app.config["CAPTURE_DIR"])[1] == 0
    assert "Ancora nessun messaggio" in client.get("/admin/captured").get_data(as_text=True)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "x", "20250101T000000000000Z-zzzzzzzzzzzz"])
def test_captured_ids_are_checked(client, auth, bad):
    """Only ids the capture server writes are read (no path traversal)."""
    auth.login("admin")
    assert client.get(f"/admin/captured/{bad}").status_code == 404
