"""Bounces in a real browser (issue 13.2): «Ricevute e rimbalzi» lists who bounced with the status code
and whether for good; the batch results show the delivery's own; no CSP violation. Screenshots at
1400 px go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Delivery
from mailer.services.tracking import record_message
from tests.support.batches import make_account, make_sending_batch
from tests.support.bounce_corpus import CORPUS
from tests.support.receipts import dsn_bounce

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def bounced(app, make_user):
    """A done batch of three deliveries: a permanent bounce, a delay warning, a bounce for another address."""
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA"])
    with app.app_context():
        account = make_account(
            SimpleNamespace(host="127.0.0.1", port=1), from_address="fatture@azienda.example"
        )
        batch = make_sending_batch(
            account, ["a@cliente.example", "b@cliente.example", "c@cliente.example"], status="done"
        )
        mid = {}
        for d in db.session.scalars(db.select(Delivery)):
            d.status, d.message_id = "sent", f"<{d.recipient_email.split('@')[0]}.{d.id}@azienda.example>"
            mid[d.recipient_email] = d.message_id
        db.session.commit()
        record_message(dsn_bounce(mid["a@cliente.example"], "a@cliente.example"), file_name="a.eml")
        delay = (
            (CORPUS / "own" / "exim_delay.eml")
            .read_bytes()
            .replace(b"paolo.gialli@cliente-lento.example", b"b@cliente.example")
            .replace(b"<orig.4@azienda.example>", mid["b@cliente.example"].encode())
        )
        record_message(delay, file_name="ritardo.eml")
        record_message(dsn_bounce(mid["c@cliente.example"], "intruso@altrove.example"), file_name="altro.eml")
        return batch.id


def test_receipts_and_results_show_who_bounced(app, bounced, browser):
    """The list shows each recipient with status and permanence; the results page the delivery's own."""
    page = browser.page
    page.set_viewport_size({"width": 1400, "height": 1000})
    browser.login("operatore")
    page.goto(f"{browser.base}/ricevute/")
    lists = page.locator("ul.bounce-recipients")
    expect(lists).to_have_count(3)
    expect(page.locator("tbody")).to_contain_text("a@cliente.example · 5.1.1 · definitivo")
    expect(page.locator("tbody")).to_contain_text("b@cliente.example · 4.7.1 · temporaneo")
    expect(page.locator("tbody")).to_contain_text("intruso@altrove.example · 5.1.1 · definitivo")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "bounces-ricevute.png"), full_page=True)
    page.goto(f"{browser.base}/invii/{bounced}")
    expect(page.locator("td.tracking").filter(has_text="5.1.1")).to_contain_text("definitivo")
    expect(page.locator("td.tracking").filter(has_text="4.7.1")).to_contain_text("temporaneo")
    page.screenshot(path=str(ARTIFACTS / "bounces-invio.png"), full_page=True)
    assert browser.csp_violations() == []
