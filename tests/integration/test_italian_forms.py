"""Forms that fit Italian habits: dates typed dd/mm/yyyy (ISO accepted) with Italian errors naming the
field, zones as checkboxes, plurals, and a cancelled batch that says what it cancelled."""

from __future__ import annotations

import re
from datetime import date

import pytest

from mailer.extensions import db
from mailer.models import Batch, Contact, Delivery, MailAccount, Party, SavedFilter
from tests.support.batches import make_sending_batch, office_data
from tests.support.campaigns import build_sales_world

HX = {"HX-Request": "true"}


@pytest.fixture
def office(app, smtp_server, make_user):
    """Office data (November 2026 invoices, one of January 2025), an operator and a manager."""
    make_user("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    make_user("capo", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    with app.app_context():
        data = office_data(smtp_server)
        db.session.remove()
    return data


def test_documents_filter_takes_italian_dates(client, auth, office):
    """01/11/2026–30/11/2026 selects November's invoices, like the ISO form; the inputs show dd/mm/yyyy."""
    auth.login("operatore", create=False)
    page = client.get("/documenti/?type=FATTURA&from=01/11/2026&to=30/11/2026").get_data(as_text=True)
    assert re.search(r"<strong>3</strong> documenti", page)
    assert ">F0<" not in page and "F0" not in re.sub(r"F0\d", "", page.split("<table", 1)[-1])
    assert 'name="from" value="01/11/2026"' in page and 'name="to" value="30/11/2026"' in page
    assert 'type="date"' not in page and 'inputmode="numeric"' in page
    iso = client.get("/documenti/?type=FATTURA&from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert re.search(r"<strong>3</strong> documenti", iso)
    assert 'name="from" value="01/11/2026"' in iso
    # one document: the singular
    one = client.get("/documenti/?type=FATTURA&from=01/01/2025&to=31/01/2025").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> documento\b", one)


def test_documents_filter_names_a_bad_date(client, auth, office):
    """A date that does not exist: an Italian message naming the field, the typed text kept, no filter."""
    auth.login("operatore", create=False)
    page = client.get("/documenti/?type=FATTURA&from=31/02/2026").get_data(as_text=True)
    assert "Dal: «31/02/2026» non è una data esistente." in page
    assert 'name="from" value="31/02/2026"' in page and 'aria-invalid="true"' in page
    assert re.search(r"<strong>4</strong> documenti", page)  # the period was not applied


def test_prepare_with_italian_dates_and_a_bad_one(app, client, auth, office):
    """The preparation form takes 01/11/2026; 11/31/2026 (month/day) is refused naming «Al», nothing created."""
    auth.login("operatore", create=False)
    response = client.post(
        "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "01/11/2026", "date_to": "11/31/2026"}
    )
    assert response.status_code in (200, 400)
    assert "Al: «11/31/2026» non è una data esistente." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 0
    response = client.post(
        "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "01/11/2026", "date_to": "30/11/2026"}
    )
    assert response.status_code == 302
    with app.app_context():
        params = db.session.scalar(db.select(Batch.params))
        assert params["selection"]["date_from"] == "2026-11-01" if "selection" in params else True
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 1


@pytest.fixture
def party(app):
    """A customer without contacts."""
    with app.app_context():
        row = Party(erp_code="DATE1", name="Date S.r.l.", kind="customer")
        db.session.add(row)
        db.session.commit()
        return row.id


def test_consent_date_typed_italian_style(app, client, auth, party):
    """15/03/2024 is saved as 15 March 2024 and shown back as 15/03/2024; 2024-13-01 is named as a bad date."""
    auth.login("operator", clearance=3)
    base = {"name": "Mario", "email": "mario@date.example", "privacy_level": "0", "marketing_consent": "1"}
    bad = client.post(
        f"/anagrafiche/{party}/contacts",
        data={**base, "consent_date": "2024-13-01", "consent_source": "modulo"},
        headers=HX,
    ).get_data(as_text=True)
    assert "Data del consenso: «2024-13-01» non è una data esistente." in bad
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Contact.id))) == 0
    client.post(
        f"/anagrafiche/{party}/contacts",
        data={**base, "consent_date": "15/03/2024", "consent_source": "modulo"},
        headers=HX,
    )
    with app.app_context():
        contact = db.session.scalar(db.select(Contact))
        assert contact.consent_date.date() == date(2024, 3, 15)
        contact_id = contact.id
    form = client.get(f"/anagrafiche/contacts/{contact_id}/edit", headers=HX).get_data(as_text=True)
    assert 'name="consent_date" value="15/03/2024"' in form


def test_zones_are_checkboxes_and_dates_italian_in_the_filter_builder(app, client, auth, make_user):
    """Zones: a checkbox each (no Ctrl-click select); two ticked are saved; «bought» dates as dd/mm/yyyy."""
    make_user("vendite", roles=["sales"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        ids = build_sales_world()
    auth.login("vendite", create=False)
    page = client.post(
        "/campagne/filtri/costruttore", data={"c0-type": "kind", "c0-value": "customer", "add": "zone"}
    ).get_data(as_text=True)
    assert 'type="checkbox" name="c1-ids"' in page and " multiple" not in page
    response = client.post(
        "/campagne/filtri/nuovo",
        data={
            "name": "Nord e Sud",
            "c0-type": "zone",
            "c0-ids": [str(ids["nord"]), str(ids["sud"])],
            "c1-type": "bought",
            "c1-period": "dates",
            "c1-products": "A100",
            "c1-from": "01/01/2026",
            "c1-to": "31/12/2026",
        },
    )
    assert response.status_code == 302, re.findall(
        r"field-error[^<]*<?[^<]*", response.get_data(as_text=True)
    )
    with app.app_context():
        saved = db.session.scalar(db.select(SavedFilter).where(SavedFilter.name == "Nord e Sud"))
        assert sorted(saved.conditions[0]["ids"]) == sorted([ids["nord"], ids["sud"]])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="c1-from" value="01/01/2026"' in page and 'name="c1-to" value="31/12/2026"' in page
    bad = client.post(
        "/campagne/filtri/conteggio",
        data={"c0-type": "bought", "c0-period": "dates", "c0-products": "A100", "c0-from": "32/01/2026"},
    ).get_data(as_text=True)
    assert "«32/01/2026» non è una data esistente" in bad


@pytest.mark.parametrize("recipients, text", [(2, "2 invii non partiti"), (1, "1 invio non partito")])
def test_cancelled_batch_says_what_it_cancelled(app, client, auth, smtp_server, make_user, recipients, text):
    """«Annullato il … da …: N invii non partiti», with the right plural."""
    make_user("capo", roles=["manager"], clearance=3, send_types=["FATTURA"])
    with app.app_context():
        from tests.support.batches import make_account

        account = make_account(smtp_server)
        db.session.commit()
        batch = make_sending_batch(account, [f"r{i}@x.example" for i in range(recipients)])
        db.session.commit()
        batch_id = batch.id
    auth.login("capo", create=False)
    assert client.post(f"/invii/{batch_id}/annulla").status_code == 302
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count(Delivery.id)).where(
                    Delivery.batch_id == batch_id, Delivery.status == "cancelled"
                )
            )
            == recipients
        )
    note = re.search(r'<div class="flash flash-warning" id="cancelled-note">(.*?)</div>', page).group(1)
    assert re.fullmatch(rf"Annullato il \d\d/\d\d/\d{{4}} \d\d:\d\d da Capo: {text}\.", note), note
    assert MailAccount  # the account model is what make_account made
