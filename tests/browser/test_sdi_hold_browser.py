"""The SdI outcome in a real browser: an admin turns on «solo dopo l'esito SdI» for invoices; the batch
review then lists a held invoice with its age and a discarded one with the SdI's errors. No CSP violation.
Screenshots at 1400 and 900 px go to test-artifacts/ (sdi-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.extensions import db
from tests.integration.test_sdi_hold import customer, invoice, receive
from tests.support.batches import office_data

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


def _shoot(page, name: str, part: str = "") -> None:
    """Screenshots at 1400 and 900 px wide: the full page, or one part of it (a CSS selector)."""
    SHOTS.mkdir(exist_ok=True)
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 1000})
        path = str(SHOTS / f"sdi-{name}-{width}.png")
        if part:
            page.locator(part).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_settings_then_review_with_held_and_discarded(app, browser, smtp_server, make_user):
    from mailer.models import Batch, DocumentType
    from mailer.services.preparation import Selection, create_batch

    make_user("giulia", roles=["admin"], clearance=3)
    with app.app_context():
        office_data(smtp_server)
        party = customer(
            "OMEGA", [{"name": "Amministrazione", "email": "amm@omega.example", "types": ["FATTURA"]}]
        )
        invoice(party, "2026/301", days_old=3)
        discarded = invoice(party, "2026/302", days_old=2)
        delivered = invoice(party, "2026/303", days_old=2)
        receive("NS", discarded.sdi_file_name)
        receive("RC", delivered.sdi_file_name)
    page = browser.page
    browser.login("giulia")
    page.goto(f"{browser.base}/modelli/FATTURA/it#impostazioni")
    switch = page.locator("input[name=wait_for_sdi]")
    expect(switch).not_to_be_checked()
    switch.check()
    page.locator("#impostazioni button[type=submit]").click()
    expect(page.locator("body")).to_contain_text(
        "Impostazioni di invio di «Fattura (copia di cortesia)» salvate."
    )
    expect(page.locator("input[name=wait_for_sdi]")).to_be_checked()
    _shoot(page, "settings", "#impostazioni")
    with app.app_context():
        assert db.session.get(DocumentType, "FATTURA").wait_for_sdi is True
        batch_id = create_batch(Selection(type_codes=["FATTURA"], party_ids=[party.id]), None).id

    page.goto(f"{browser.base}/invii/{batch_id}")
    expect(page.locator("#review")).to_contain_text("1 documento in attesa dell'esito SdI", timeout=30_000)
    expect(page.locator("#review")).to_contain_text("1 documento scartato dallo SdI")
    _shoot(page, "review")
    page.click("a:has-text('Esclusi')")
    table = page.locator("#delivery-table")
    expect(table).to_contain_text("in attesa dell'esito SdI da 3 giorni")
    expect(table).to_contain_text("00404 Fattura duplicata")
    expect(table).to_contain_text("Scartata dallo SdI")
    _shoot(page, "excluded")
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    assert browser.csp_violations() == []
