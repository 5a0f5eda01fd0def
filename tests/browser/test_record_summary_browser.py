"""Issue 12.2 in the browser: a manager starts a batch and watches the end-of-batch summary settle on its page."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import Batch
from tests.support.batches import make_account, make_sending_batch
from tests.support.browser import ARTIFACTS

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def summary_retries_at_once(monkeypatch):
    """The worker process (started by live_server, environment inherited) retries the summary without waiting."""
    monkeypatch.setenv("SUMMARY_RETRY_INTERVALS", "0,0")


@pytest.mark.browser
def test_summary_state_appears_on_the_batch_page(
    summary_retries_at_once, app, smtp_server, make_user, browser
):
    """The preparer's copy is refused for good (550), the approver's arrives after a 451: the page, without a
    reload by hand, ends on «non inviata» with the reason naming Mario Rossi; no CSP violation."""
    make_user("capo", roles=["manager"], clearance=3, send_types=["FATTURA"])
    with app.app_context():
        from mailer.services.users import create_user

        preparer = create_user(
            "mrossi",
            "password-lunga-1",
            roles=["operator"],
            full_name="Mario Rossi",
            email="mario.rossi@azienda.example",
        )
        approver = create_user(
            "gbianchi",
            "password-lunga-1",
            roles=["manager"],
            full_name="Giulia Bianchi",
            email="giulia.bianchi@azienda.example",
        )
        db.session.flush()
        account = make_account(smtp_server, is_default=True)
        batch = make_sending_batch(account, ["ok@cliente.example", "no@cliente.example"], user_id=preparer.id)
        batch.approved_by_id = approver.id
        db.session.commit()
        batch_id = batch.id
    smtp_server.rules = {
        "no@cliente.example": [550],
        "mario.rossi@azienda.example": [550],
        "giulia.bianchi@azienda.example": [451, "ok"],
    }
    page = browser.page
    browser.login("capo")
    page.goto(f"{browser.base}/invii/{batch_id}")
    page.click('button:has-text("Avvia l\'invio")')
    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text("non inviata", timeout=30_000)
    expect(summary).to_contain_text("Mario Rossi <mario.rossi@azienda.example>: 550")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "record_summary_failed.png"), full_page=True)
    assert smtp_server.accepted_to("giulia.bianchi@azienda.example") == 1
    assert smtp_server.accepted_to("mario.rossi@azienda.example") == 0
    with app.app_context():
        assert db.session.get(Batch, batch_id).summary_status == "failed"
    assert not browser.csp_violations(), browser.console
