"""Italian forms in a browser whose language is English (en-US): dates are shown and typed dd/mm/yyyy,
zones are ticked as checkboxes."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from tests.support.batches import office_data
from tests.support.campaigns import build_sales_world

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture
def browser_locale() -> str:
    """This module's browser speaks English (en-US), where <input type=date> would show mm/dd/yyyy."""
    return "en-US"


def test_dates_typed_and_shown_italian_in_an_english_browser(app, smtp_server, make_user, browser):
    """The browser says en-US; the documents filter still takes 01/11/2026 and shows it back as such."""
    page = browser.page
    assert page.evaluate("navigator.language") == "en-US"
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT"])
    with app.app_context():
        office_data(smtp_server)
        db.session.remove()
    browser.login("operatore")
    page.goto(f"{browser.base}/documenti/?type=FATTURA")
    start = page.locator("form input[name=from]")
    assert start.get_attribute("type") == "text" and start.get_attribute("placeholder") == "gg/mm/aaaa"
    start.fill("01/11/2026")
    page.locator("form input[name=to]").fill("30/11/2026")
    page.locator("form input[name=to]").press("Enter")
    page.wait_for_url(re.compile(r".*from=01%2F11%2F2026.*"))
    expect(page.locator("#documents-table")).to_contain_text("3 documenti")
    expect(page.locator("form input[name=from]")).to_have_value("01/11/2026")
    # a date that does not exist: the message names the field
    page.locator("form input[name=from]").fill("31/02/2026")
    page.locator("form input[name=from]").press("Enter")
    expect(page.locator("#documents-table [role=alert]")).to_contain_text(
        "Dal: «31/02/2026» non è una data esistente."
    )
    page.screenshot(path="test-artifacts/documents-dates-en-US.png", full_page=True)
    assert browser.csp_violations() == []


def test_zone_checkboxes_count_live(app, make_user, browser):
    """Ticking two zones in the filter builder counts both zones' contacts."""
    page = browser.page
    make_user("vendite", roles=["sales"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        build_sales_world()
    browser.login("vendite")
    page.goto(f"{browser.base}/campagne/filtri/nuovo")
    page.click("#segment-form button[name=add][value=zone]")
    zones = page.locator("#segment-form .check-list[aria-label=Zona] input[type=checkbox]")
    expect(zones.first).to_be_visible()
    assert page.locator("#segment-form select[multiple]").count() == 0
    page.locator("#segment-form label.check", has_text="Nord").locator("input").check()
    result = page.locator("#segment-result .stat-ok span")
    expect(result).not_to_have_text("—")
    nord = int(result.inner_text())
    page.locator("#segment-form label.check", has_text="Sud").locator("input").check()
    expect(result).not_to_have_text(str(nord))
    assert int(result.inner_text()) > nord
