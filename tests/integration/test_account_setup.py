"""Sending-account setup (issue 15, points 2-4): TLS verified with the account's own CA bundle, Italian
certificate errors, «Prova connessione» step by step (SMTP and IMAP), provider presets on the form,
and the `accounts` CLI. Against real loopback servers: aiosmtpd with TLS from a test CA, dovecot.
"""

from __future__ import annotations

import json
import re

import pytest

from mailer.extensions import db
from mailer.models import MailAccount
from mailer.services import accounts as account_service
from mailer.services.crypto import decrypt_secret, encrypt_secret
from mailer.services.sending import smtp_settings
from mailer.services.tracking import imap_settings
from mailer.transport.imap import ImapError, ImapMailbox
from mailer.transport.smtp import SmtpSession
from tests.support.services import free_port
from tests.support.tls import PASSWORD, USER


def _account(
    server=None, name="Interno", tls_mode="ssl", ca_pem="", password=PASSWORD, **extra
) -> MailAccount:
    """An account pointing at a loopback TLS server (or at `host`/`port` given in extra)."""
    account = MailAccount(
        name=name,
        kind="smtp",
        host=extra.pop("host", server.host if server else "127.0.0.1"),
        port=extra.pop("port", server.port if server else 25),
        tls_mode=tls_mode,
        username=USER,
        password_encrypted=encrypt_secret(password),
        from_address="fatture@azienda.example",
        tls_ca_pem=ca_pem,
        **extra,
    )
    db.session.add(account)
    db.session.commit()
    return account


def _steps(result) -> list[str]:
    return [s.step for s in result.steps]


def _failed(result):
    return next(s for s in result.steps if not s.ok)


# ---------------------------------------------------------------- TLS, certificate, step by step


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_check_trusts_the_accounts_ca_and_reports_every_step(app_ctx, tls_smtp, mode):
    server = tls_smtp(mode=mode)
    account = _account(server, tls_mode=mode, ca_pem=server.ca.pem)
    result = account_service.check_account(account, timeout=5)
    assert result.ok, [(s.step, s.detail) for s in result.steps]
    expected = (
        ["dns", "tcp", "tls", "greeting", "ehlo", "auth"]
        if mode == "ssl"
        else ["dns", "tcp", "greeting", "ehlo", "tls", "auth"]
    )
    assert _steps(result) == expected
    by = {s.step: s for s in result.steps}
    assert "127.0.0.1" in by["dns"].detail
    assert "Recapito Test CA" in by["tls"].detail  # issuer
    assert re.search(r"al \d\d/\d\d/\d{4}", by["tls"].detail)  # expiry
    assert "AUTH" in by["ehlo"].detail
    assert re.search(r"PLAIN|LOGIN", by["auth"].detail)  # the mechanism used


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_untrusted_certificate_is_an_italian_message_with_what_to_do(app_ctx, tls_smtp, mode):
    server = tls_smtp(mode=mode)
    account = _account(server, tls_mode=mode)  # no CA bundle: the system store does not know the test CA
    result = account_service.check_account(account, timeout=5)
    assert not result.ok
    failed = _failed(result)
    assert failed.step == "tls"
    assert "autorità non riconosciuta" in failed.detail
    assert "Recapito Test CA" in failed.detail and "Certificati CA aggiuntivi" in failed.detail
    assert failed.hint
    assert "Traceback" not in failed.detail and "SSLCertVerificationError" not in failed.detail
    assert "auth" not in _steps(result)  # no password sent over an unverified connection


def test_wrong_name_says_which_names_the_certificate_has(app_ctx, tls_smtp):
    server = tls_smtp(cert="wrong-name")
    account = _account(server, ca_pem=server.ca.pem)
    failed = _failed(account_service.check_account(account, timeout=5))
    assert failed.step == "tls"
    assert "non è intestato a «127.0.0.1»" in failed.detail
    assert "mail.altrove.example" in failed.detail


def test_expired_certificate_says_since_when(app_ctx, tls_smtp):
    server = tls_smtp(cert="expired")
    account = _account(server, ca_pem=server.ca.pem)
    failed = _failed(account_service.check_account(account, timeout=5))
    assert failed.step == "tls"
    assert re.search(r"scaduto il \d\d/\d\d/\d{4}", failed.detail)


def test_dns_failure_stops_at_the_first_step(app_ctx):
    account = _account(host="server-inesistente.invalid", port=587, tls_mode="starttls")
    result = account_service.check_account(account, timeout=5)
    assert _steps(result) == ["dns"]
    assert "server-inesistente.invalid" in result.steps[0].detail and result.steps[0].hint


def test_refused_connection_fails_at_tcp(app_ctx):
    account = _account(host="127.0.0.1", port=free_port(), tls_mode="ssl")
    result = account_service.check_account(account, timeout=5)
    assert _steps(result) == ["dns", "tcp"]
    assert not result.steps[1].ok and "rifiutata" in result.steps[1].detail


def test_wrong_password_fails_at_auth(app_ctx, tls_smtp):
    server = tls_smtp()
    account = _account(server, ca_pem=server.ca.pem, password="sbagliata")
    result = account_service.check_account(account, timeout=5)
    failed = _failed(result)
    assert failed.step == "auth" and "Credenziali rifiutate" in failed.detail and failed.hint
    assert "sbagliata" not in json.dumps(result.as_dict())


def test_sending_uses_the_ca_stored_in_the_database(app_ctx, tls_smtp):
    server = tls_smtp(mode="starttls")
    trusted = _account(server, tls_mode="starttls", ca_pem=server.ca.pem)
    outcome = SmtpSession(smtp_settings(trusted)).send(
        "fatture@azienda.example", ["rossi@example.com"], b"Subject: prova\r\n\r\nciao\r\n"
    )
    assert outcome.kind == "sent"
    assert server.accepted_to("rossi@example.com") == 1
    untrusted = _account(server, name="Senza CA", tls_mode="starttls")
    outcome = SmtpSession(smtp_settings(untrusted)).send(
        "fatture@azienda.example", ["bianchi@example.com"], b"Subject: prova\r\n\r\nciao\r\n"
    )
    assert outcome.kind == "temporary"
    assert "autorità non riconosciuta" in outcome.text
    assert server.accepted_to("bianchi@example.com") == 0


# ---------------------------------------------------------------- IMAP steps


def _with_imap(account: MailAccount, user, ca_pem: str, folder="INBOX", password=None) -> MailAccount:
    account.imap_host, account.imap_port = user.host, user.tls_port
    account.imap_username = user.username
    account.imap_password_encrypted = encrypt_secret(password or user.password)
    account.imap_folder = folder
    account.tls_ca_pem = ca_pem
    db.session.commit()
    return account


def _dovecot_ca(dovecot) -> str:
    with open(dovecot.ca_file) as handle:
        return handle.read()


def test_imap_steps_connect_login_select(app_ctx, tls_smtp, imap_user, dovecot):
    server = tls_smtp()
    account = _with_imap(_account(server), imap_user, server.ca.pem + _dovecot_ca(dovecot))
    result = account_service.check_account(account, timeout=5)
    assert result.ok, [(s.step, s.detail) for s in result.steps]
    assert _steps(result)[-3:] == ["imap_connect", "imap_login", "imap_select"]
    by = {s.step: s for s in result.steps}
    assert "localhost" in by["imap_connect"].detail  # the certificate's subject
    assert "INBOX" in by["imap_select"].detail


def test_imap_failures_each_at_their_step(app_ctx, tls_smtp, imap_user, dovecot):
    server = tls_smtp()
    both = server.ca.pem + _dovecot_ca(dovecot)
    account = _with_imap(_account(server), imap_user, both, folder="Inesistente")
    failed = _failed(account_service.check_account(account, timeout=5))
    assert failed.step == "imap_select" and "Inesistente" in failed.detail
    _with_imap(account, imap_user, both, password="sbagliata")
    failed = _failed(account_service.check_account(account, timeout=5))
    assert failed.step == "imap_login" and failed.hint
    _with_imap(account, imap_user, server.ca.pem)  # the IMAP server's CA missing
    failed = _failed(account_service.check_account(account, timeout=5))
    assert failed.step == "imap_connect" and "autofirmato" in failed.detail


def test_reading_the_mailbox_uses_the_accounts_ca(app_ctx, imap_user, dovecot):
    app_ctx.config["IMAP_CA_FILE"] = ""
    account = _account(host="127.0.0.1", port=25)
    _with_imap(account, imap_user, "")
    with pytest.raises(ImapError, match="autofirmato"):
        ImapMailbox(imap_settings(account)).open()
    _with_imap(account, imap_user, _dovecot_ca(dovecot))
    with ImapMailbox(imap_settings(account)) as mailbox:
        assert mailbox.select("INBOX") > 0


# ---------------------------------------------------------------- form: presets and CA bundle


def _form(**overrides) -> dict:
    form = {
        "name": "Posta",
        "kind": "smtp",
        "host": "smtp.example.com",
        "port": "587",
        "tls_mode": "starttls",
        "username": "u",
        "from_address": "posta@azienda.example",
        "max_connections": "2",
        "rate_per_minute": "60",
        "rate_per_day": "5000",
        "max_message_mb": "20",
        "max_recipients": "50",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
    }
    form.update(overrides)
    return form


def test_choosing_a_preset_fills_the_form_without_saving(client, auth, app):
    auth.login("admin", roles=["admin"])
    page = client.get("/admin/accounts/new").get_data(as_text=True)
    assert 'name="preset"' in page and "Microsoft 365" in page and "Aruba PEC" in page
    assert (
        'name="imap_folder" value="INBOX"' in page
    )  # the default folder was lost under the blank text fields
    response = client.post(
        "/admin/accounts/new",
        data=_form(preset="legalmail", apply_preset="1"),
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="sendm.cert.legalmail.it"' in html and 'value="6"' in html  # host and 6 messages a minute
    assert "legalmail.it" in html and 'value="465"' in html
    assert re.search(r'<option value="pec"\s+selected', html)
    assert "field-error" not in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(MailAccount)) == 0


def test_ca_bundle_saved_from_the_form_and_refused_when_not_pem(client, auth, app, test_ca):
    auth.login("admin", roles=["admin"])
    bad = client.post("/admin/accounts/new", data=_form(tls_ca_pem="non è un certificato"))
    assert bad.status_code == 422
    assert "Non è un certificato PEM valido" in bad.get_data(as_text=True)
    good = client.post("/admin/accounts/new", data=_form(tls_ca_pem=test_ca.pem))
    assert good.status_code == 302
    with app.app_context():
        account = db.session.scalar(db.select(MailAccount))
        assert account.tls_ca_pem.strip() == test_ca.pem.strip()
    page = client.get(good.headers["Location"]).get_data(as_text=True)
    assert "Recapito Test CA" in page  # the stored CA is described on the form


def test_test_page_shows_steps_in_italian(client, auth, app, tls_smtp):
    server = tls_smtp()
    with app.app_context():
        account_id = _account(server).id  # no CA: fails at the certificate
    auth.login("admin", roles=["admin"])
    html = client.post(f"/admin/accounts/{account_id}/test", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Risoluzione DNS" in html and "Connessione TCP" in html and "TLS e certificato" in html
    assert "Cosa fare" in html and "autorità non riconosciuta" in html


# ---------------------------------------------------------------- CLI


def test_cli_add_with_preset_reads_secrets_from_stdin(app, runner):
    result = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "PEC Aruba",
            "--preset",
            "aruba_pec",
            "--username",
            "azienda@pec.it",
            "--from-address",
            "azienda@pec.it",
            "--password-stdin",
        ],
        input="segreta-pec\n",
    )
    assert result.exit_code == 0, result.output
    assert "segreta-pec" not in result.output
    with app.app_context():
        account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "PEC Aruba"))
        assert (account.kind, account.host, account.port, account.tls_mode) == (
            "pec",
            "smtps.pec.aruba.it",
            465,
            "ssl",
        )
        assert "pec.aruba.it" in account.pec_system_domains
        assert decrypt_secret(account.password_encrypted) == "segreta-pec"
    refused = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "X",
            "--host",
            "h",
            "--from-address",
            "a@b.example",
            "--password",
            "in-chiaro",
        ]
    )
    assert refused.exit_code != 0  # no password option on the command line


def test_cli_add_reports_field_errors_and_writes_nothing(app, runner):
    result = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "Rotto",
            "--host",
            "smtp.example.com",
            "--from-address",
            "non-un-indirizzo",
            "--port",
            "99999",
        ]
    )
    assert result.exit_code != 0
    assert "from_address" in result.output and "port" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(MailAccount)) == 0


def test_cli_list_and_test_json(app, runner, tls_smtp, tmp_path):
    server = tls_smtp()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(server.ca.pem)
    added = runner.invoke(
        args=[
            "accounts",
            "add",
            "--name",
            "Interno",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--tls-mode",
            "ssl",
            "--username",
            USER,
            "--from-address",
            "fatture@azienda.example",
            "--ca-file",
            str(ca_file),
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(runner.invoke(args=["accounts", "list", "--json"]).output)
    assert [a["name"] for a in listed] == ["Interno"] and listed[0]["tls_ca"] is True
    assert PASSWORD not in json.dumps(listed) and "encrypted" not in json.dumps(listed)
    ok = runner.invoke(args=["accounts", "test", "Interno", "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["ok"] is True and [s["step"] for s in report["steps"]][:3] == ["dns", "tcp", "tls"]
    assert all(set(s) >= {"step", "ok", "detail"} for s in report["steps"])
    with app.app_context():
        account = db.session.scalar(db.select(MailAccount))
        account.tls_ca_pem = ""
        db.session.commit()
    ko = runner.invoke(args=["accounts", "test", "Interno", "--json"])
    assert ko.exit_code == 1
    report = json.loads(ko.output)
    assert report["ok"] is False and report["steps"][-1]["step"] == "tls"
    text = runner.invoke(args=["accounts", "test", "Interno"])
    assert text.exit_code == 1 and "Cosa fare" in text.output
    assert runner.invoke(args=["accounts", "test", "Nessuno"]).exit_code != 0
