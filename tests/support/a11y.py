"""Accessibility helpers for the browser tests: the demo world the checks walk through, axe-core (vendored in
tests/browser/vendor, injected by the test only), the «colour is never the only signal» check on status
badges, and the keyboard's walk through a page's Tab stops."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery, Document, User
from mailer.models.base import utcnow
from mailer.services import preparation
from mailer.services.demo import DemoOptions, build_demo_data
from tests.conftest import PASSWORD
from tests.support.campaigns import make_filter, make_generic_document

AXE = Path(__file__).resolve().parents[1] / "browser" / "vendor" / "axe.min.js"
# Only the page's own markup: e-mail bodies in preview frames are the customer's content, not our UI.
AXE_OPTIONS = {"iframes": False, "resultTypes": ["violations"]}

# Elements that show a state with a colour: badges and chips, delivery outcomes, signature and trust marks,
# the SdI state, bounce flags, chart legends. Each must say its state in text (or an image with alt text).
BADGES = (
    ".badge, .chip, [class*='status-'], [class*='outcome-'], .sig, .trust, .bounce-flag, .sdi-badge,"
    " [class^='legend-'], [class*=' legend-'], .stat-warn"
)
_BADGE_TEXT_JS = """selector => [...document.querySelectorAll(selector)]
  .filter(el => el.getClientRects().length && !el.closest('[aria-hidden=true]'))
  .map(el => {
    const text = (el.innerText || '').replace(/[\\s■●▲◆•]+/g, ' ').trim();
    const alt = [...el.querySelectorAll('img[alt], svg[aria-label], [role=img][aria-label]')]
      .map(i => i.getAttribute('alt') || i.getAttribute('aria-label')).join(' ').trim();
    const hidden = [...el.querySelectorAll('.visually-hidden')].map(s => s.textContent).join(' ').trim();
    return {ok: /[\\p{L}\\p{N}]/u.test(text + ' ' + alt + ' ' + hidden), html: el.outerHTML.slice(0, 160)};
  })
  .filter(r => !r.ok).map(r => r.html)"""


@pytest.fixture
def demo_world(app):
    """A small demo company (its four users with the tests' password), a batch in review, a sent batch
    with sent and failed deliveries, a generic document and a saved filter."""
    with app.app_context():
        build_demo_data(
            DemoOptions(customers=12, suppliers=4, lines=400, products=20, seed=3, today=date.today()),
            PASSWORD,
        )
        operator = db.session.scalar(db.select(User).where(User.username == "operatore"))
        sales = db.session.scalar(db.select(User).where(User.username == "commerciale"))
        newest = db.session.scalars(
            db.select(Document.id)
            .where(Document.type_code == "FATTURA")
            .order_by(Document.date.desc(), Document.id)
            .limit(6)
        ).all()
        batches = []
        for ids in (newest[:3], newest[3:]):
            batch = preparation.create_batch(
                preparation.Selection(type_codes=["FATTURA"], document_ids=list(ids)), operator, enqueue=False
            )
            batches.append(preparation.run_preparation(batch.id).id)
        # The second one went out: one delivery failed with the server's reason, the others arrived.
        done = db.session.get(Batch, batches[1])
        done.status = "done"
        for i, delivery in enumerate(
            db.session.scalars(db.select(Delivery).where(Delivery.batch_id == done.id))
        ):
            if delivery.status == "pending":
                delivery.status = "failed" if i == 0 else "sent"
                delivery.sent_at = utcnow()  # in the dashboard's chart of the last 30 days
                if i == 0:
                    delivery.smtp_code = 550
                    delivery.error = "550 5.1.1 casella inesistente"
        db.session.commit()
        make_generic_document(user=sales)
        make_filter([{"type": "kind", "value": "customer"}], sales.id, name="Tutti i clienti", shared=True)
    return batches


def inject_axe(page) -> None:
    """Load axe into the page through the DevTools protocol: the app's CSP (rightly) refuses an inline
    script tag, and axe is never served by the app."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))


def axe_violations(page, context: str = "document") -> list[str]:
    """axe's violations on the current page (or inside the CSS selector `context`), one line per node."""
    inject_axe(page)
    result = page.evaluate(
        "([context, options]) => window.axe.run(context === 'document' ? document : context, options)",
        [context, AXE_OPTIONS],
    )
    lines = []
    for violation in result["violations"]:
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(
                f"[{violation['impact']}] {violation['id']}: {violation['help']} — {target} — "
                f"{node['html'][:160]}"
            )
    return lines


def colour_only_badges(page) -> list[str]:
    """Visible badge-like elements whose state a reader gets from the colour alone (no letters in their
    text, no text alternative): their markup, one per line."""
    return list(page.evaluate(_BADGE_TEXT_JS, BADGES))
