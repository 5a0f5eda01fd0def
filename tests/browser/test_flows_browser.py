"""The office's day in a real browser against a live server with a real worker and SMTP server:
fix a contact inline, prepare, review, approve as a manager, watch the progress bar, read the results;
build a campaign filter and watch the live count. No CSP violation anywhere."""

from __future__ import annotations

import re
import time

import pytest

from mailer.extensions import db
from mailer.models import Contact, Delivery, Party
from mailer.services import segments
from tests.support.batches import office_data
from tests.support.campaigns import build_sales_world

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def office(app, smtp_server, make_user):
    """Accounts, ALFA/BETA/GAMMA with their invoices (BETA's contact has no e-mail), two users;
    the server accepts each message after 3 s and refuses GAMMA's with 550 (the progress bar polls every
    second: with 0.8 s both slow messages, sent side by side, could finish between two polls on a loaded
    machine and the half-sent state was never seen)."""
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    make_user("capo", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    with app.app_context():
        data = office_data(smtp_server)
    smtp_server.rules = {
        "amm@alfa.example": [("slow", 3.0)],
        "amministrazione@beta.example": [("slow", 3.0)],
        "ceo@gamma.example": [550],
    }
    return data


def test_fix_prepare_approve_send_results(app, office, browser, smtp_server):
    """Operator fixes BETA's contact inline and prepares the November invoices; the manager approves
    and sends; the progress bar moves; the results say who got what and why one failed."""
    page = browser.page
    browser.login("operatore")

    # Search the party list actively and open BETA.
    page.goto(f"{browser.base}/anagrafiche/")
    page.locator("#party-search input[name=q]").press_sequentially("BETA", delay=30)  # keyup: active search
    expect(page.locator("#party-results")).to_contain_text("BETA S.p.A.")
    expect(page.locator("#party-results")).not_to_contain_text("ALFA S.p.A.")
    assert "q=BETA" in page.url  # hx-push-url
    page.click("#party-results a:has-text('BETA S.p.A.')")
    card = page.locator("article.contact-card", has_text="Senza mail")
    expect(card).to_contain_text("senza e-mail")

    # Fix the contact inline: a wrong address first (error next to the field), then the right one.
    card.locator("a:has-text('Modifica')").click()
    form = page.locator("article.contact-form")
    form.locator("input[name=email]").fill("non-un-indirizzo")
    form.locator("button:has-text('Salva')").click()
    # Wait for the server's answer to the save (the form it sends back says nothing was saved):
    # the inline address check shows a field error earlier, and typing into the form that is about
    # to be replaced would be lost.
    expect(page.locator("article.contact-form [role=alert]")).to_contain_text("nulla è stato salvato")
    expect(page.locator("article.contact-form .field-error").first).to_be_visible()
    email = page.locator("article.contact-form input[name=email]")
    email.fill("amministrazione@beta.example")
    page.wait_for_load_state("networkidle")
    expect(email).to_have_value("amministrazione@beta.example")
    page.locator("article.contact-form button:has-text('Salva')").click()
    expect(page.locator("article.contact-card", has_text="Senza mail")).to_contain_text(
        "amministrazione@beta.example"
    )
    with app.app_context():
        assert (
            db.session.scalar(db.select(Contact.email).join(Party).where(Party.erp_code == "BETA"))
            == "amministrazione@beta.example"
        )

    # Prepare the November invoices; the page follows the preparation by itself.
    page.goto(f"{browser.base}/invii/nuovo")
    page.check("input[name=type][value=FATTURA]")
    page.fill("input[name=date_from]", "2026-11-01")
    page.fill("input[name=date_to]", "2026-11-30")
    page.click("button:has-text('Prepara')")
    page.wait_for_url(re.compile(r".*/invii/\d+$"))
    batch_id = int(re.search(r"/invii/(\d+)", page.url).group(1))
    review = page.locator("#review")
    expect(review).to_contain_text("amministrazione@beta.example", timeout=45_000)
    expect(review).to_contain_text("amm@alfa.example")
    expect(review).to_contain_text("ceo@gamma.example")
    expect(page.locator("h1 .badge")).to_have_text("Da approvare")
    expect(page.locator("#review .approval")).not_to_contain_text("Approva e invia")  # an operator may not
    browser.logout()

    # The manager approves and sends; the progress bar is live while the worker sends.
    browser.login("capo")
    page.goto(f"{browser.base}/invii/{batch_id}")
    page.click("button:has-text('Approva e invia')")
    bar = page.locator("#progress progress")
    expect(bar).to_be_visible()
    seen_partial = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = page.locator("h1 .badge").inner_text()
        if bar.count():
            value, top = bar.get_attribute("value"), bar.get_attribute("max")
            if status == "In invio" and value is not None and 0 < int(value) < int(top):
                seen_partial = True
        if status == "Concluso":
            break
        page.wait_for_timeout(150)
    assert seen_partial, "the progress bar never showed a batch half-sent"
    expect(page.locator("h1 .badge")).to_have_text("Concluso")
    expect(page.locator("#progress")).to_contain_text("3 di 3")

    # Results: who received it, who did not and why.
    stats = page.locator(".stat-row")
    expect(stats.locator(".stat-ok span")).to_have_text("2")
    expect(stats.locator(".stat-err span")).to_have_text("1")
    page.goto(f"{browser.base}/invii/{batch_id}?vista=failed")
    row = page.locator("tr", has_text="ceo@gamma.example")
    expect(row).to_contain_text("550")
    expect(row).to_contain_text("User unknown")
    page.goto(f"{browser.base}/invii/{batch_id}?vista=sent")
    expect(page.locator("main")).to_contain_text("amministrazione@beta.example")
    expect(page.locator("main")).to_contain_text("amm@alfa.example")
    assert smtp_server.accepted_to("amministrazione@beta.example") == 1
    assert smtp_server.accepted_to("amm@alfa.example") == 1
    assert smtp_server.accepted_to("ceo@gamma.example") == 0
    with app.app_context():
        statuses = dict(
            db.session.execute(
                db.select(Delivery.recipient_email, Delivery.status).where(Delivery.batch_id == batch_id)
            ).all()
        )
    assert statuses == {
        "amm@alfa.example": "sent",
        "amministrazione@beta.example": "sent",
        "ceo@gamma.example": "failed",
    }
    assert not browser.csp_violations(), browser.csp_violations()


@pytest.fixture
def sales_data(app, make_user):
    """The campaigns' hand-counted sales history and a sales user who sees everything."""
    make_user("giulia", roles=["sales"], clearance=3)
    with app.app_context():
        build_sales_world()
        db.session.commit()


def _expected(app, conditions: list[dict]) -> int:
    """Contacts with e-mail the service counts for these conditions (clearance 3)."""
    with app.app_context():
        return segments.count(segments.parse_conditions(conditions), 3).contacts


def test_campaign_filter_live_count(app, sales_data, browser):
    """Build a filter: add a province condition, type into it and watch the count follow; remove it."""
    page = browser.page
    browser.login("giulia")
    page.goto(f"{browser.base}/campagne/filtri/nuovo")
    result = page.locator("#segment-result .stat-ok span")
    customers = _expected(app, [{"type": "kind", "value": "customer"}])
    expect(result).to_have_text(str(customers))

    page.click("#segment-builder button[name=add][value=province]")
    field = page.locator("input[name=c1-values]")
    expect(field).to_be_visible()
    milano = _expected(app, [{"type": "kind", "value": "customer"}, {"type": "province", "values": ["MI"]}])
    bergamo = _expected(app, [{"type": "kind", "value": "customer"}, {"type": "province", "values": ["BG"]}])
    assert len({customers, milano, bergamo}) == 3, "the world must tell the three counts apart"
    field.press_sequentially("MI", delay=40)
    expect(result).to_have_text(str(milano))
    expect(page.locator("#segment-result table.sample")).to_contain_text("(MI)")
    field.fill("")
    field.press_sequentially("BG", delay=40)
    expect(result).to_have_text(str(bergamo))

    page.click("#segment-builder button.remove[value='1']")
    expect(page.locator("input[name=c1-values]")).to_have_count(0)
    page.locator("#segment-form select[name=c0-value]").select_option("customer")
    expect(result).to_have_text(str(customers))
    assert not browser.csp_violations(), browser.csp_violations()


def test_campaign_filter_product_picker(app, sales_data, browser):
    """A description typed as a code goes red and suspends the count; the picker finds the product by
    description (and by category), a click puts its code in the condition and the count comes back.
    Enter in the picker searches instead of saving the filter. No CSP violation."""
    page = browser.page
    browser.login("giulia")
    page.goto(f"{browser.base}/campagne/filtri/nuovo")
    result = page.locator("#segment-result .stat-ok span")
    expect(result).to_have_text(str(_expected(app, [{"type": "kind", "value": "customer"}])))

    page.click("#segment-builder button[name=add][value=bought]")
    codes = page.locator("input[name=c1-products]")
    codes.press_sequentially("Bulloni", delay=30)
    expect(page.locator("#c1-error")).to_contain_text("Articoli inesistenti: Bulloni")
    expect(result).to_have_text("—")
    expect(page.locator("fieldset.condition").nth(1)).to_have_css("border-top-color", "rgb(185, 28, 28)")
    page.screenshot(path="test-artifacts/filter-unknown-product.png", full_page=True)

    codes.fill("")
    search = page.locator("#c1-picker-q")
    search.press_sequentially("bull", delay=30)
    choice = page.locator("#c1-products-picker button[data-product-code=A100]")
    expect(choice).to_be_visible()
    expect(page.locator("#c1-products-picker button[data-product-code]")).to_have_count(1)
    search.press("Enter")  # searches; the builder form is not submitted
    page.select_option("#c1-picker-cat", label="Vernici")
    expect(page.locator("#c1-products-picker")).to_contain_text("Nessun articolo")
    page.select_option("#c1-picker-cat", label="Ferramenta")
    search.fill("")
    search.press("Backspace")
    expect(page.locator("#c1-products-picker button[data-product-code]")).to_have_count(2)
    page.click("#c1-products-picker button[data-product-code=A100]")
    expect(codes).to_have_value("A100")
    bought = _expected(
        app, [{"type": "kind", "value": "customer"}, {"type": "bought", "products": "A100", "months": 12}]
    )
    expect(result).to_have_text(str(bought))
    expect(page.locator("#c1-error")).to_have_text("")
    assert page.url.endswith("/campagne/filtri/nuovo")  # nothing saved by Enter
    page.screenshot(path="test-artifacts/filter-product-picker.png", full_page=True)

    # The same search as a page of its own (codes to copy), with active search and the URL kept.
    page.goto(f"{browser.base}/campagne/filtri/articoli")
    page.locator("input[name=q]").press_sequentially("a", delay=30)
    expect(page.locator("#product-picker [data-product-code]")).to_have_count(2)  # A100, A200 (code with "a")
    assert "q=a" in page.url
    page.screenshot(path="test-artifacts/product-search-page.png", full_page=True)
    assert not browser.csp_violations(), browser.csp_violations()
