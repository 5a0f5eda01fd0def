"""Each role's dashboard is about its work: every link answers 200 for that role, counts match the lists."""

from __future__ import annotations

import html
import re

import pytest

from mailer.extensions import db
from mailer.models import Batch, Document, MailAccount
from tests.support.batches import make_sending_batch, office_data
from tests.support.campaigns import make_filter


@pytest.fixture
def world(app, smtp_server, make_user):
    """Office documents (FATTURA ×4, DDT ×2, INSOLUTO), a batch waiting for approval, a sales filter."""
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT"])
    make_user("capo", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO", "GENERICO"])
    sales = make_user("vendite", roles=["sales"], clearance=0, send_types=["GENERICO", "OFFERTA"])
    with app.app_context():
        data = office_data(smtp_server)
        account = db.session.get(MailAccount, data["ordinary"])
        make_sending_batch(account, ["a@x.example", "b@x.example"], status="ready")
        make_sending_batch(account, ["c@x.example"], status="done")
        db.session.commit()
        make_filter([{"type": "kind", "value": "customer"}], sales, name="Tutti i clienti", shared=True)
        make_filter([{"type": "kind", "value": "supplier"}], sales, name="Fornitori")
        db.session.remove()
    return data


def _links(page: str) -> list[str]:
    """The app links of a page (no static files, no logout)."""
    found = {html.unescape(h) for h in re.findall(r'href="(/[^"]*)"', page)}
    return sorted(h for h in found if not h.startswith("/static/"))


def _main(page: str) -> str:
    """The page's own content (without the header's navigation)."""
    return page[page.index("<h1>Cruscotto</h1>") :]


@pytest.mark.parametrize("username", ["operatore", "capo", "vendite"])
def test_every_dashboard_link_answers_200(client, auth, world, username):
    """Follow every link of the dashboard as that role."""
    auth.login(username, create=False)
    page = client.get("/").get_data(as_text=True)
    links = _links(page)
    assert links
    for href in links:
        assert client.get(href).status_code == 200, href


def test_operator_sees_only_the_types_they_may_send_with_counts_of_the_list(client, auth, world, app):
    """FATTURA and DDT, not INSOLUTO; each count opens the documents list with that many documents."""
    auth.login("operatore", create=False)
    page = _main(client.get("/").get_data(as_text=True))
    assert "Sollecito" not in page and "INSOLUTO" not in page
    counts = {
        html.unescape(href): int(n)
        for href, n in re.findall(r'<a href="(/documenti/\?[^"]+)"[^>]*>(\d+)</a>', page)
    }
    assert set(counts) == {"/documenti/?type=FATTURA&sent=no", "/documenti/?type=DDT&sent=no"}
    with app.app_context():
        for code in ("FATTURA", "DDT"):
            unsent = db.session.scalar(
                db.select(db.func.count(Document.id)).where(
                    Document.type_code == code, Document.sent_at.is_(None)
                )
            )
            assert counts[f"/documenti/?type={code}&sent=no"] == unsent > 0
    for href, n in counts.items():
        listing = client.get(href).get_data(as_text=True)
        assert re.search(rf"<strong>{n}</strong> document", listing), href
    assert "Campagne recenti" not in page  # not their work


def test_manager_sees_what_waits_for_approval_first(client, auth, world, app):
    """The approvals card comes first; its count opens the list of batches to approve, with as many."""
    auth.login("capo", create=False)
    page = _main(client.get("/").get_data(as_text=True))
    assert page.index("Invii da approvare") < page.index("Ultimi esiti")
    assert "Documenti da inviare" not in page
    match = re.search(r'<a class="dash-count" href="(/invii/\?stato=ready)"[^>]*>(\d+)</a>', page)
    assert match, page
    with app.app_context():
        ready = db.session.scalar(db.select(db.func.count(Batch.id)).where(Batch.status == "ready"))
    assert int(match.group(2)) == ready == 1
    listing = client.get(match.group(1)).get_data(as_text=True)
    assert f"{ready} invio" in listing


def test_sales_sees_campaigns_and_filters_not_documents(client, auth, world, app):
    """No ERP documents (whose list answers 403 to sales); saved filters with counts equal to the filter page's."""
    auth.login("vendite", create=False)
    page = _main(client.get("/").get_data(as_text=True))
    assert "Documenti da inviare" not in page and "/documenti/" not in page and "/invii/?" not in page
    assert "Campagne recenti" in page and "Componi la prima campagna" in page
    rows = re.findall(r'<a href="(/campagne/filtri/\d+)">(\d+)</a>', page)
    assert len(rows) == 2
    for href, n in rows:
        listing = client.get(href).get_data(as_text=True)
        shown = re.search(r'<div class="stat stat-ok"><span>(\d+)</span>contatti', listing).group(1)
        assert shown == n, href
    # clearance 0: Gamma's reserved contact (level 3) is not counted
    names = dict(re.findall(r'<a href="/campagne/filtri/\d+">([^<]+)</a>.*?>(\d+)</a>', page, re.S))
    with app.app_context():
        from mailer.services import segments

        conditions = [{"type": "kind", "value": "customer"}]
        assert int(names["Tutti i clienti"]) == segments.count(conditions, 0).contacts
        assert segments.count(conditions, 3).contacts == segments.count(conditions, 0).contacts + 1
