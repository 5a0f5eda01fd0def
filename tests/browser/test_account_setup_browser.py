"""Account setup in a real browser (issue 15.2-15.4): choosing a provider fills the form through htmx
(no inline script: no CSP violation), nothing is saved until «Salva»; «Prova connessione» shows the steps
and what to do. Screenshots at 1400 px go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.extensions import db
from mailer.models import MailAccount
from mailer.services.crypto import encrypt_secret
from tests.support.tls import PASSWORD, USER

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_preset_fills_the_form_and_the_check_shows_steps(app, make_user, browser, tls_smtp):
    make_user("amministratore", roles=["admin"], clearance=3)
    server = tls_smtp()
    with app.app_context():
        account = MailAccount(
            name="Interno",
            kind="smtp",
            host="127.0.0.1",
            port=server.port,
            tls_mode="ssl",
            username=USER,
            password_encrypted=encrypt_secret(PASSWORD),
            from_address="fatture@azienda.example",
        )  # no CA: the check fails at TLS
        db.session.add(account)
        db.session.commit()
        account_id = account.id
    page = browser.page
    browser.login("amministratore")
    page.goto(f"{browser.base}/admin/accounts/new")
    page.fill("input[name=name]", "PEC Legalmail")
    page.select_option("select[name=preset]", "legalmail")
    expect(page.locator("input[name=host]")).to_have_value("sendm.cert.legalmail.it")
    expect(page.locator("input[name=rate_per_minute]")).to_have_value("6")
    expect(page.locator("select[name=kind]")).to_have_value("pec")
    expect(page.locator("textarea[name=pec_system_domains]")).to_have_value("legalmail.it")
    expect(page.locator("input[name=name]")).to_have_value("PEC Legalmail")  # what was typed stays
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "account_preset_legalmail.png"), full_page=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(MailAccount)) == 1  # only «Interno»
    page.goto(f"{browser.base}/admin/accounts/{account_id}")
    page.click("button:has-text('Prova connessione')")
    expect(page.locator("#test-result")).to_contain_text("Cosa fare")
    expect(page.locator("#test-result")).to_contain_text("Risoluzione DNS")
    expect(page.locator("#test-result")).to_contain_text("autorità non riconosciuta")
    page.screenshot(path=str(ARTIFACTS / "account_test_steps.png"), full_page=True)
    assert browser.csp_violations() == []
