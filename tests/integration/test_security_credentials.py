"""SMTP/IMAP passwords: encrypted at rest with a key kept outside the database, never shown back,
never logged, never in the audit trail."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet

from mailer.extensions import db
from mailer.models import AuditEvent, Delivery, MailAccount
from tests.integration.test_batches_web import work
from tests.support.batches import make_account, make_sending_batch

SMTP_PASSWORD = "Pw-Smtp-Molto-Segreta-1!"
IMAP_PASSWORD = "Pw-Imap-Molto-Segreta-2!"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def keyed_app(app):
    """The app with its own CREDENTIALS_KEY (as production sets it in the environment)."""
    app.config["CREDENTIALS_KEY"] = KEY
    return app


def _form(**extra) -> dict:
    """A valid account form."""
    return {
        "name": "Posta",
        "kind": "smtp",
        "host": "127.0.0.1",
        "port": "1",
        "tls_mode": "none",
        "username": "mittente",
        "from_address": "fatture@azienda.example",
        "from_name": "Azienda",
        "max_connections": "1",
        "rate_per_minute": "60",
        "rate_per_day": "1000",
        "max_message_mb": "10",
        "max_recipients": "10",
        "imap_host": "127.0.0.1",
        "imap_port": "1",
        "imap_username": "mittente",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
        **extra,
    }


def _database_text(app) -> str:
    """Every value of every row of every table, as one string."""
    parts = []
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def _saved_account(keyed_app, client, auth) -> int:
    """An account saved through the admin form with both passwords."""
    auth.login("admin")
    response = client.post(
        "/admin/accounts/new", data=_form(password=SMTP_PASSWORD, imap_password=IMAP_PASSWORD)
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with keyed_app.app_context():
        return db.session.scalar(db.select(MailAccount.id).where(MailAccount.name == "Posta"))


def test_passwords_are_encrypted_with_the_key_outside_the_database(keyed_app, client, auth):
    """The rows hold Fernet tokens only; neither the passwords nor the key are anywhere in the database."""
    from mailer.services.crypto import decrypt_secret

    account_id = _saved_account(keyed_app, client, auth)
    with keyed_app.app_context():
        account = db.session.get(MailAccount, account_id)
        assert account.password_encrypted.startswith("gAAAA") and account.imap_password_encrypted.startswith(
            "gAAAA"
        )
        assert decrypt_secret(account.password_encrypted) == SMTP_PASSWORD
        assert decrypt_secret(account.imap_password_encrypted) == IMAP_PASSWORD
        assert Fernet(KEY.encode()).decrypt(account.password_encrypted.encode()).decode() == SMTP_PASSWORD
    everything = _database_text(keyed_app)
    for secret in (SMTP_PASSWORD, IMAP_PASSWORD, KEY):
        assert secret not in everything  # includes the audit trail and any history table


def test_another_key_cannot_decrypt_and_the_app_says_so(keyed_app, client, auth):
    """With a different CREDENTIALS_KEY the stored password is unreadable; «prova connessione» explains why."""
    from mailer.services.crypto import decrypt_secret

    account_id = _saved_account(keyed_app, client, auth)
    keyed_app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    with keyed_app.app_context():
        token = db.session.get(MailAccount, account_id).password_encrypted
        with pytest.raises(ValueError, match="non si può decifrare: la chiave CREDENTIALS_KEY è cambiata"):
            decrypt_secret(token)
    page = client.post(f"/admin/accounts/{account_id}/test").get_data(as_text=True)
    assert "La password salvata non si può decifrare" in page and "CREDENTIALS_KEY" in page
    assert SMTP_PASSWORD not in page


def test_key_falls_back_to_secret_key_only_when_unset(app):
    """Without CREDENTIALS_KEY the key is derived from SECRET_KEY (also outside the database)."""
    from mailer.services.crypto import decrypt_secret, encrypt_secret

    app.config["CREDENTIALS_KEY"] = ""
    with app.app_context():
        token = encrypt_secret("x-segreta")
        app.config["SECRET_KEY"] = "un-altro-segreto-di-prova-molto-lungo"
        with pytest.raises(ValueError):
            decrypt_secret(token)


def test_passwords_are_never_shown_back(keyed_app, client, auth):
    """Account list, form, failed validation, test result and signatures show neither password nor token."""
    account_id = _saved_account(keyed_app, client, auth)
    with keyed_app.app_context():
        account = db.session.get(MailAccount, account_id)
        tokens = (account.password_encrypted, account.imap_password_encrypted)
    pages = [
        client.get("/admin/accounts"),
        client.get(f"/admin/accounts/{account_id}"),
        client.post(f"/admin/accounts/{account_id}", data=_form(port="abc", password="Altra-Pw-Nuova-3!")),
        client.post(f"/admin/accounts/{account_id}/test"),
        client.get("/modelli/firme"),
        client.get("/admin/registro/"),
        client.get("/admin/registro/export.csv"),
    ]
    for response in pages:
        text = response.get_data(as_text=True)
        for secret in (SMTP_PASSWORD, IMAP_PASSWORD, "Altra-Pw-Nuova-3!", *tokens):
            assert secret not in text, response.request.path
    form = client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    assert 'name="password" value=""' in form and "Una password è salvata (cifrata)" in form


def test_wrong_password_is_never_logged(keyed_app, client, auth, smtp_server_auth, caplog, capfd):
    """«Prova connessione» and a real sending with a wrong password: nothing logged, stored or audited carries it."""
    caplog.set_level(logging.DEBUG)
    wrong = "Pw-Sbagliata-Da-Non-Loggare-4!"
    with keyed_app.app_context():
        account = make_account(smtp_server_auth, name="Con AUTH", username="mittente", password=wrong)
        db.session.commit()
        account_id = account.id
        batch = make_sending_batch(account, ["cliente@example.com"], status="approved")
        batch_id = batch.id
    auth.login("admin")
    tested = client.post(f"/admin/accounts/{account_id}/test").get_data(as_text=True)
    assert "535" in tested or "autentica" in tested.lower()
    from mailer.models import Batch, User
    from mailer.services.sending import start_sending

    with keyed_app.app_context():
        start_sending(db.session.get(Batch, batch_id), db.session.scalar(db.select(User)))
        db.session.commit()
    work(keyed_app, max_wait=3)
    with keyed_app.app_context():
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
        assert delivery.status == "failed" and delivery.smtp_code == 535, (
            delivery.status,
            delivery.smtp_code,
        )
        assert wrong not in (delivery.smtp_reason or "")
        audit_text = " ".join(str(e.details) for e in db.session.scalars(db.select(AuditEvent)))
        assert wrong not in audit_text
    out, err = capfd.readouterr()
    assert wrong not in caplog.text and wrong not in out and wrong not in err
    assert wrong not in _database_text(keyed_app).replace(account_token(keyed_app, account_id), "")


def account_token(app, account_id: int) -> str:
    """The stored (encrypted) password of an account."""
    with app.app_context():
        return db.session.get(MailAccount, account_id).password_encrypted
