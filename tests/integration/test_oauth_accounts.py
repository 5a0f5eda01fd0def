"""OAuth2 (XOAUTH2) accounts against loopback servers: a token endpoint stand-in (HTTPS, as Microsoft and
Google answer) and an SMTP server that accepts only the bearer tokens the stand-in issued."""

from __future__ import annotations

import time

import pytest

from mailer.extensions import db
from mailer.models import Delivery, MailAccount
from mailer.queue import get_redis
from mailer.services import oauth_tokens, sending
from mailer.services.crypto import encrypt_secret
from tests.support.batches import make_account, make_sending_batch, run_jobs, statuses
from tests.support.faults import WorkerProcess, wait_until
from tests.support.oauth import GOOGLE_CLIENT, MAILBOX, MS_CLIENT, TENANT

RECIPIENTS = ["uno@cliente.example", "due@cliente.example", "tre@cliente.example"]


def oauth_account(server, endpoint, auth_kind="ms_app", name="Microsoft 365", **fields) -> MailAccount:
    """An account on the XOAUTH2 server whose tokens come from the stand-in."""
    values = {"auth_kind": auth_kind, "username": MAILBOX, "from_address": MAILBOX}
    if auth_kind.startswith("ms"):
        values.update(
            oauth_tenant=TENANT,
            oauth_client_id=MS_CLIENT[0],
            oauth_secret_encrypted=encrypt_secret(MS_CLIENT[1]),
            oauth_endpoint=endpoint.base,
        )
    elif auth_kind == "google_service":
        values.update(
            oauth_secret_encrypted=encrypt_secret(endpoint.service_account_json()),
            oauth_endpoint=endpoint.google_token_uri,
        )
    else:
        values.update(
            oauth_client_id=GOOGLE_CLIENT[0],
            oauth_secret_encrypted=encrypt_secret(GOOGLE_CLIENT[1]),
            oauth_endpoint=endpoint.google_token_uri,
        )
    values.update(fields)
    account = make_account(server, name=name, **values)
    db.session.commit()
    return account


def reasons(batch_id: int) -> list[str]:
    return list(db.session.scalars(db.select(Delivery.smtp_reason).where(Delivery.batch_id == batch_id)))


def send_batch(app, account, recipients=RECIPIENTS) -> int:
    batch = make_sending_batch(account, recipients)
    batch_id = batch.id
    db.session.commit()
    sending.start_sending(batch)
    run_jobs(app, 15)
    return batch_id


def test_batch_sent_through_ms_app_account(app_ctx, xoauth_smtp, oauth_provider):
    """Microsoft 365 app-only: MSAL discovers the tenant, gets one client_credentials token, three messages leave."""
    account = oauth_account(xoauth_smtp, oauth_provider)
    batch_id = send_batch(app_ctx, account)
    assert set(statuses(batch_id).values()) == {"sent"}
    assert sorted(m.rcpt_tos[0] for m in xoauth_smtp.messages) == sorted(RECIPIENTS)
    assert oauth_provider.grants("client_credentials") == 1
    assert {user for user, _ in xoauth_smtp.auth_attempts} == {MAILBOX}


def test_batch_sent_through_google_service_account(app_ctx, xoauth_smtp, oauth_provider):
    """Google service account: a signed JWT (jwt-bearer) impersonating the mailbox, checked by the stand-in."""
    account = oauth_account(xoauth_smtp, oauth_provider, "google_service", name="Google Workspace")
    batch_id = send_batch(app_ctx, account)
    assert set(statuses(batch_id).values()) == {"sent"}, reasons(batch_id)
    assert len(xoauth_smtp.messages) == 3
    assert oauth_provider.grants("urn:ietf:params:oauth:grant-type:jwt-bearer") == 1


def test_google_delegated_refresh_token(app_ctx, xoauth_smtp, oauth_provider):
    """Google delegated: client id/secret + refresh token."""
    account = oauth_account(
        xoauth_smtp,
        oauth_provider,
        "google_delegated",
        name="Gmail",
        oauth_refresh_token_encrypted=encrypt_secret(oauth_provider.new_refresh_token()),
    )
    batch_id = send_batch(app_ctx, account, RECIPIENTS[:1])
    assert set(statuses(batch_id).values()) == {"sent"}
    assert oauth_provider.grants("refresh_token") == 1


def test_token_cached_in_redis_and_shared_by_two_worker_processes(
    app_ctx, xoauth_smtp, oauth_provider, tmp_path
):
    """Two real worker processes send one batch on two connections: one token request in all, and the
    cached token in Redis is encrypted (no bearer token in clear)."""
    account = oauth_account(xoauth_smtp, oauth_provider, max_connections=2)
    recipients = [f"c{i}@cliente.example" for i in range(120)]  # 3 chunks: two sender jobs
    batch = make_sending_batch(account, recipients)
    batch_id = batch.id
    db.session.commit()
    sending.start_sending(batch)
    env = {"OAUTH_CA_BUNDLE": str(oauth_provider.ca_bundle)}
    workers = [WorkerProcess(app_ctx, tmp_path / f"w{i}", **env) for i in range(2)]
    for i, worker in enumerate(workers):
        (tmp_path / f"w{i}").mkdir()
        worker.start()
    try:
        wait_until(
            lambda: len(xoauth_smtp.messages) == 120,
            90,
            lambda: f"the batch to leave\n{workers[0].tail()}\n{workers[1].tail()}",
        )
    finally:
        for worker in workers:
            worker.stop()
    assert all(": invio 1 account 1 (" in worker.tail(100000) for worker in workers), (
        "each process ran a sender"
    )
    assert oauth_provider.grants() == 1
    tokens_used = {token for _, token in xoauth_smtp.auth_attempts}
    assert len(xoauth_smtp.auth_attempts) >= 2 and len(tokens_used) == 1
    redis = get_redis()
    values = [redis.get(k) for k in redis.scan_iter("recapito:oauth:*") if not k.endswith(b":lock")]
    token = tokens_used.pop().encode()
    assert values and all(token not in v for v in values)
    db.session.remove()
    assert set(statuses(batch_id).values()) == {"sent"}


def test_token_refreshed_before_it_expires(app_ctx, oauth_provider, xoauth_smtp):
    """A cached token is reused, and fetched again OAUTH_REFRESH_MARGIN seconds before it expires."""
    app_ctx.config["OAUTH_REFRESH_MARGIN"] = 300
    oauth_provider.expires_in = 302
    account = oauth_account(xoauth_smtp, oauth_provider)
    first = oauth_tokens.access_token(account)
    assert oauth_tokens.access_token(account) == first
    assert oauth_provider.grants() == 1
    time.sleep(2.2)  # now within 300 s of its expiry: the next use fetches a new one
    second = oauth_tokens.access_token(account)
    assert second != first and oauth_provider.grants() == 2
    assert oauth_provider.valid(first, MAILBOX)  # it had not expired yet: refreshed before


def test_expired_token_refused_by_smtp_is_refreshed_once_and_sent(app_ctx, xoauth_smtp, oauth_provider):
    """The cache still holds a token the provider has expired: SMTP answers 535, a fresh token is fetched
    once, the message leaves."""
    account = oauth_account(xoauth_smtp, oauth_provider)
    stale = oauth_tokens.access_token(account)
    oauth_provider.expire_all()
    batch_id = send_batch(app_ctx, account, RECIPIENTS[:1])
    assert statuses(batch_id) == {RECIPIENTS[0]: "sent"}
    assert oauth_provider.grants() == 2
    assert next(t for _, t in xoauth_smtp.auth_attempts) == stale
    assert len(xoauth_smtp.auth_attempts) == 2


def test_token_refused_twice_fails_with_italian_reason(app_ctx, xoauth_smtp, oauth_provider):
    """A server that refuses even a fresh token: one retry only, then the delivery fails saying what to check."""
    account = oauth_account(xoauth_smtp, oauth_provider)
    oauth_provider.valid = lambda token, subject: False
    batch_id = send_batch(app_ctx, account, RECIPIENTS[:1])
    assert statuses(batch_id) == {RECIPIENTS[0]: "failed"}
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
    assert delivery.smtp_code == 535 and "SMTP.SendAsApp" in delivery.smtp_reason
    assert oauth_provider.grants() == 2 and len(xoauth_smtp.auth_attempts) == 2


@pytest.mark.parametrize(
    "case, expected",
    [
        (
            "revoked",
            "l'autorizzazione è stata revocata o è scaduta: ripeti l'autorizzazione dalla pagina dell'account",
        ),
        ("tenant", "Tenant «tenant-sbagliato» sconosciuto: controlla l'ID della directory (tenant)"),
        ("secret", "controlla l'ID client e il segreto"),
    ],
)
def test_provider_errors_in_italian_on_the_test_page(
    app, client, auth, xoauth_smtp, oauth_provider, case, expected
):
    """«Prova connessione» names what to fix: revoked grant, wrong tenant, wrong client secret; no secret shown."""
    with app.app_context():
        fields = {}
        if case == "revoked":
            fields = {
                "auth_kind": "ms_delegated",
                "oauth_refresh_token_encrypted": encrypt_secret("rt-revocato"),
            }
        elif case == "tenant":
            fields = {"oauth_tenant": "tenant-sbagliato"}
        else:
            fields = {"oauth_secret_encrypted": encrypt_secret("segreto-sbagliato")}
        account_id = oauth_account(xoauth_smtp, oauth_provider, **fields).id
    auth.login("admin", roles=("admin",))
    page = client.post(f"/admin/accounts/{account_id}/test").get_data(as_text=True)
    import html

    text = html.unescape(page)
    assert expected in text, text[-3000:]
    assert "segreto-sbagliato" not in text and MS_CLIENT[1] not in text
    assert not xoauth_smtp.messages


def test_revoked_grant_fails_the_delivery_with_italian_reason(app_ctx, xoauth_smtp, oauth_provider):
    """A sender whose grant was revoked: the delivery says to repeat the authorisation."""
    account = oauth_account(
        xoauth_smtp,
        oauth_provider,
        "ms_delegated",
        oauth_refresh_token_encrypted=encrypt_secret("rt-revocato"),
    )
    batch_id = send_batch(app_ctx, account, RECIPIENTS[:1])
    assert statuses(batch_id) == {RECIPIENTS[0]: "failed"}
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
    assert "ripeti l'autorizzazione dalla pagina dell'account" in delivery.smtp_reason


def _form(**overrides) -> dict:
    form = {
        "name": "Microsoft 365",
        "kind": "smtp",
        "host": "smtp.office365.com",
        "port": "587",
        "tls_mode": "starttls",
        "username": MAILBOX,
        "from_address": MAILBOX,
        "from_name": "Azienda",
        "max_connections": "2",
        "rate_per_minute": "30",
        "rate_per_day": "10000",
        "max_message_mb": "25",
        "max_recipients": "100",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
        "auth_kind": "ms_app",
        "oauth_tenant": TENANT,
        "oauth_client_id": MS_CLIENT[0],
        "oauth_secret": "segreto-dal-modulo",
        "oauth_endpoint": "",
    }
    form.update(overrides)
    return form


def test_account_form_saves_oauth_settings_with_write_only_secret(app, client, auth):
    """The form takes the authentication kind and its fields; the secret is stored encrypted, never shown back."""
    auth.login("admin", roles=("admin",))
    page = client.get("/admin/accounts/new").get_data(as_text=True)
    assert 'name="auth_kind"' in page and "js/account_auth.js" in page
    response = client.post("/admin/accounts/new", data=_form())
    assert response.status_code == 302
    with app.app_context():
        account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "Microsoft 365"))
        assert account.auth_kind == "ms_app" and account.oauth_tenant == TENANT
        assert account.oauth_secret_encrypted and "segreto-dal-modulo" not in account.oauth_secret_encrypted
        assert oauth_tokens.decrypt_secret(account.oauth_secret_encrypted) == "segreto-dal-modulo"
        account_id = account.id
        from mailer.models import AuditEvent

        logged = " ".join(str(e.details) for e in db.session.scalars(db.select(AuditEvent)))
        assert "segreto-dal-modulo" not in logged and "oauth_secret" in logged
    page = client.get(f"/admin/accounts/{account_id}").get_data(as_text=True)
    assert "segreto-dal-modulo" not in page and "Un segreto è salvato (cifrato)" in page
    # A blank secret keeps the stored one.
    assert client.post(f"/admin/accounts/{account_id}", data=_form(oauth_secret="")).status_code == 302
    with app.app_context():
        stored = db.session.get(MailAccount, account_id).oauth_secret_encrypted
        assert oauth_tokens.decrypt_secret(stored) == "segreto-dal-modulo"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"oauth_tenant": ""}, "oauth_tenant", "ID della directory (tenant)"),
        ({"oauth_secret": ""}, "oauth_secret", "Inserisci il segreto del client"),
        (
            {"auth_kind": "google_service", "oauth_secret": "{non json"},
            "oauth_secret",
            "file JSON della chiave",
        ),
        ({"oauth_endpoint": "http://login.example"}, "oauth_endpoint", "https://"),
        ({"auth_kind": "boh"}, "auth_kind", "Tipo di autenticazione non valido"),
    ],
)
def test_account_form_oauth_errors_name_the_field(app, client, auth, overrides, field, message):
    auth.login("admin", roles=("admin",))
    response = client.post("/admin/accounts/new", data=_form(**overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(MailAccount.id))) == 0


def test_ms_delegated_consent_then_send(app, client, auth, xoauth_smtp, oauth_provider):
    """«Autorizza con Microsoft» redirects to the authority; the callback exchanges the code (PKCE flow by MSAL),
    keeps the refresh token encrypted, and the account then sends with refreshed tokens."""
    import urllib.parse

    with app.app_context():
        account_id = oauth_account(xoauth_smtp, oauth_provider, "ms_delegated").id
    auth.login("admin", roles=("admin",))
    response = client.post(f"/admin/accounts/{account_id}/oauth")
    assert response.status_code == 302
    target = urllib.parse.urlsplit(response.headers["Location"])
    assert target.path == f"/{TENANT}/oauth2/v2.0/authorize"
    query = dict(urllib.parse.parse_qsl(target.query))
    assert query["code_challenge_method"] == "S256" and "offline_access" in query["scope"]
    code = oauth_provider.new_auth_code(query["redirect_uri"])  # the administrator consents at Microsoft
    back = client.get(
        urllib.parse.urlsplit(query["redirect_uri"]).path,
        query_string={"code": code, "state": query["state"]},
    )
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/admin/accounts/{account_id}")
    assert oauth_provider.grants("authorization_code") == 1
    # The same state cannot be used twice.
    again = client.get(
        urllib.parse.urlsplit(query["redirect_uri"]).path,
        query_string={"code": code, "state": query["state"]},
    )
    assert again.status_code == 302 and again.headers["Location"].endswith("/admin/accounts")
    with app.app_context():
        account = db.session.get(MailAccount, account_id)
        assert account.oauth_refresh_token_encrypted
        batch_id = send_batch(app, account, RECIPIENTS[:1])
        assert statuses(batch_id) == {RECIPIENTS[0]: "sent"}
    assert oauth_provider.grants("refresh_token") == 1


def test_delegated_token_survives_refresh_token_rotation(app_ctx, xoauth_smtp, oauth_provider):
    """Microsoft hands out a new refresh token with each access token: it is kept (encrypted), and the cached
    access token is still used by the next job that loads the account afresh."""
    account = oauth_account(
        xoauth_smtp,
        oauth_provider,
        "ms_delegated",
        oauth_refresh_token_encrypted=encrypt_secret(oauth_provider.new_refresh_token()),
    )
    account_id, before = account.id, account.oauth_refresh_token_encrypted
    first = oauth_tokens.access_token(account)
    db.session.remove()
    reloaded = db.session.get(MailAccount, account_id)
    assert reloaded.oauth_refresh_token_encrypted != before  # rotated and stored
    assert oauth_tokens.access_token(reloaded) == first
    assert oauth_provider.grants("refresh_token") == 1


def test_connection_test_logs_in_with_xoauth2(app, client, auth, xoauth_smtp, oauth_provider):
    """«Prova connessione» on a good Microsoft app account: the XOAUTH2 step with the server's 235."""
    import html

    with app.app_context():
        account_id = oauth_account(xoauth_smtp, oauth_provider).id
    auth.login("admin", roles=("admin",))
    text = html.unescape(client.post(f"/admin/accounts/{account_id}/test").get_data(as_text=True))
    assert f"XOAUTH2 come «{MAILBOX}»" in text and "235" in text  # the AUTH step of the step-by-step check
    assert "Connessione riuscita" in text
    assert oauth_provider.grants("client_credentials") == 1


def test_ms_app_with_certificate(app_ctx, xoauth_smtp, oauth_provider):
    """Microsoft app-only with a certificate instead of a secret: MSAL signs the client assertion, the message leaves."""
    account = oauth_account(
        xoauth_smtp,
        oauth_provider,
        oauth_secret_encrypted=encrypt_secret(oauth_provider.client_certificate_pem()),
    )
    batch_id = send_batch(app_ctx, account, RECIPIENTS[:1])
    assert statuses(batch_id) == {RECIPIENTS[0]: "sent"}, reasons(batch_id)
    assert oauth_provider.grants("client_credentials") == 1


def test_imap_settings_of_an_oauth_account_use_its_tokens(app_ctx, xoauth_smtp, oauth_provider):
    """The mailbox reader logs in with XOAUTH2 too: its settings carry the account's token provider."""
    from mailer.services.tracking import imap_settings

    account = oauth_account(xoauth_smtp, oauth_provider, imap_host="outlook.office365.com")
    settings = imap_settings(account)
    assert settings.token_provider is not None and settings.username == MAILBOX
    token = settings.token_provider()
    assert oauth_provider.valid(token, MAILBOX) and settings.token_provider() == token
    assert settings.token_provider(force=True) != token and oauth_provider.grants() == 2
    password_account = make_account(xoauth_smtp, name="Password", password="x")
    assert imap_settings(password_account).token_provider is None


def test_cli_sets_up_a_microsoft_account_and_tests_it(app, runner, xoauth_smtp, oauth_provider, tmp_path):
    """`accounts add --preset microsoft365 --auth-kind ms_app` with the secret from a file, then `accounts test
    --json`: the XOAUTH2 login works; the secret is stored encrypted and never printed."""
    import json

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(MS_CLIENT[1] + "\n")
    added = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "M365 CLI",
            "--preset",
            "microsoft365",
            "--host",
            xoauth_smtp.host,
            "--port",
            str(xoauth_smtp.port),
            "--tls-mode",
            "none",
            "--username",
            MAILBOX,
            "--from-address",
            MAILBOX,
            "--imap-host",
            "",
            "--auth-kind",
            "ms_app",
            "--oauth-tenant",
            TENANT,
            "--oauth-client-id",
            MS_CLIENT[0],
            "--oauth-endpoint",
            oauth_provider.base,
            "--oauth-secret-file",
            str(secret_file),
        ]
    )
    assert added.exit_code == 0, added.output
    assert MS_CLIENT[1] not in added.output
    with app.app_context():
        account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "M365 CLI"))
        assert account.auth_kind == "ms_app" and account.oauth_secret_encrypted
        assert MS_CLIENT[1] not in account.oauth_secret_encrypted
    tested = runner.invoke(args=["accounts", "test", "M365 CLI", "--json"])
    result = json.loads(tested.output)
    assert tested.exit_code == 0 and result["ok"], tested.output
    auth = next(step for step in result["steps"] if step["step"] == "auth")
    assert "XOAUTH2" in auth["detail"] and "235" in auth["detail"]


def test_cli_oauth_account_without_its_secret_names_the_field(app, runner, xoauth_smtp, oauth_provider):
    """An ms_app account with no secret: refused naming --oauth-secret, nothing written."""
    added = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "M365 senza segreto",
            "--preset",
            "microsoft365",
            "--username",
            MAILBOX,
            "--from-address",
            MAILBOX,
            "--auth-kind",
            "ms_app",
            "--oauth-tenant",
            TENANT,
            "--oauth-client-id",
            MS_CLIENT[0],
        ]
    )
    assert added.exit_code != 0 and "--oauth-secret" in added.output
    with app.app_context():
        assert (
            db.session.scalar(db.select(MailAccount).where(MailAccount.name == "M365 senza segreto")) is None
        )
