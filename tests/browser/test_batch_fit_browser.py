"""Issue 17, points 1 and 3, in a real browser: the preview opens in view beside the list at 900 and
1400 px (a <dialog>), the recipients table is never wider than its container, a refusal is explained in
Italian and «Correggi il contatto» brings the operator back to the batch results after saving.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Contact, Delivery
from tests.support.batches import make_account, make_sending_batch

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REFUSAL = "5.1.1 <rossi@cliente.example>: Recipient address rejected: User unknown in virtual mailbox table"


@pytest.fixture
def batches(app, make_user):
    """A batch to review (12 recipients, long addresses) and a done one with one refused delivery."""
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA"])
    with app.app_context():
        account = make_account(
            SimpleNamespace(host="127.0.0.1", port=1), from_address="fatture@azienda.example"
        )
        review = make_sending_batch(
            account,
            [
                f"amministrazione.contabilita.{i}@un-dominio-molto-lungo-della-ditta.example"
                for i in range(12)
            ],
            status="ready",
        )
        done = make_sending_batch(account, ["rossi@cliente.example", "verdi@cliente.example"], status="done")
        for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == done.id)):
            if d.recipient_email.startswith("rossi"):
                d.status, d.smtp_code, d.smtp_reason = "failed", 550, REFUSAL
            else:
                d.status, d.smtp_code, d.smtp_reason = "sent", 250, "2.0.0 Ok: queued as 4F1"
        db.session.commit()
        return {"review": review.id, "done": done.id}


def _fits(page) -> None:
    """The recipients table is not wider than its container, and the page does not scroll sideways."""
    table = page.locator("#delivery-table table").bounding_box()
    box = page.locator("#delivery-table").bounding_box()
    assert table["x"] + table["width"] <= box["x"] + box["width"] + 1, (table, box)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [900, 1400])
def test_preview_opens_in_view_and_the_table_fits(app, batches, browser, width):
    page = browser.page
    page.set_viewport_size({"width": width, "height": 900})
    browser.login("operatore")
    ARTIFACTS.mkdir(exist_ok=True)
    for kind in ("review", "done"):
        page.goto(f"{browser.base}/invii/{batches[kind]}")
        _fits(page)
        page.locator("#delivery-table a:has-text('Anteprima')").last.click()
        dialog = page.locator("dialog#preview-dialog")
        expect(dialog.locator("#preview-card")).to_be_visible()
        card = dialog.locator("#preview-card").bounding_box()
        assert card["x"] >= 0 and card["x"] + card["width"] <= width, card
        assert 0 <= card["y"] < 900, card  # its top is on screen, not below the whole list
        expect(dialog.locator("#preview-card")).to_contain_text("Oggetto")
        page.screenshot(path=str(ARTIFACTS / f"batch-{kind}-preview-{width}.png"))
        page.keyboard.press("Escape")
        expect(dialog).not_to_be_visible()
        # another row: the dialog opens again, with that row's message
        page.locator("#delivery-table a:has-text('Anteprima')").first.click()
        expect(dialog.locator("#preview-card")).to_be_visible()
        page.click('button:has-text("Chiudi l\'anteprima")')
        expect(dialog).not_to_be_visible()
    assert browser.csp_violations() == []


def test_a_refusal_is_explained_and_the_fix_returns_to_the_batch(app, batches, browser):
    page = browser.page
    page.set_viewport_size({"width": 900, "height": 1000})
    browser.login("operatore")
    page.goto(f"{browser.base}/invii/{batches['done']}?vista=failed")
    reply = page.locator(".smtp-reply")
    expect(reply).to_contain_text("L'indirizzo non esiste sul server del destinatario")
    expect(reply).to_contain_text("Controlla l'indirizzo del contatto")
    expect(reply.locator("details code")).to_have_text("550 " + REFUSAL)
    page.screenshot(path=str(ARTIFACTS / "batch-failed-explained-900.png"), full_page=True)
    page.click("a:has-text('Correggi il contatto')")
    form = page.locator("article.contact-form")
    expect(form).to_be_visible()
    form.locator("input[name=email]").fill("mario.rossi@cliente.example")
    form.locator("button:has-text('Salva')").click()
    page.wait_for_url(f"**/invii/{batches['done']}?vista=failed")
    expect(page.locator(".flash")).to_contain_text("ora puoi ritentare")
    with app.app_context():
        emails = set(db.session.scalars(db.select(Contact.email)))
    assert "mario.rossi@cliente.example" in emails and "rossi@cliente.example" not in emails
    assert browser.csp_violations() == []
