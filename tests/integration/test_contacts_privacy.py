"""Privacy: a user never learns that a contact above their clearance exists, on any surface."""

import io

import pytest
from openpyxl import load_workbook

from mailer.extensions import db

HIDDEN_AT_1 = ["Rita Riservata", "rita@acme.it", "Carla Confidenziale", "carla.segreta@acme.it"]


def text(response):
    """Body as text."""
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "clearance, seen, hidden",
    [
        (0, ["Mario Pubblico"], ["Irene Interna", "Rita Riservata", "Carla Confidenziale"]),
        (1, ["Mario Pubblico", "Irene Interna"], ["Rita Riservata", "Carla Confidenziale"]),
        (2, ["Mario Pubblico", "Irene Interna", "Rita Riservata"], ["Carla Confidenziale"]),
        (3, ["Mario Pubblico", "Irene Interna", "Rita Riservata", "Carla Confidenziale"], []),
    ],
)
def test_party_page_shows_contacts_up_to_clearance(client, auth, world, clearance, seen, hidden):
    """The party page lists exactly the contacts within the clearance, and counts only those."""
    auth.login("operator", clearance=clearance)
    body = text(client.get(f"/anagrafiche/{world['acme']}"))
    for name in seen:
        assert name in body
    for name in hidden:
        assert name not in body
    assert f'id="contact-count">({len(seen)})' in body


def test_list_counts_only_visible_contacts(client, auth, world):
    """The contact count column of the list ignores hidden contacts (ACME shows 2, BETA 0)."""
    auth.login("sales", clearance=1)
    body = text(client.get("/anagrafiche/?sort=name"))
    acme_row = body.split("ACME Utensili")[1].split("</tr>")[0]
    beta_row = body.split("Beta Commerciale")[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in acme_row
    assert '<td class="num">0</td>' in beta_row


@pytest.mark.parametrize("term", ["Segretissimo", "zeta@beta", "carla.segreta", "Confidenziale"])
def test_search_by_hidden_contact_reveals_nothing(client, auth, world, term):
    """Searching a hidden contact's name or e-mail does not find the party through it."""
    auth.login("operator", clearance=1)
    body = text(
        client.get(
            "/anagrafiche/",
            query_string={"q": term},
            headers={"HX-Request": "true", "HX-Target": "party-results"},
        )
    )
    assert "Nessuna anagrafica" in body
    assert "ACME" not in body and "Beta Commerciale" not in body


@pytest.mark.parametrize(
    "term, party", [("Segretissimo", "Beta Commerciale"), ("carla.segreta", "ACME Utensili")]
)
def test_search_by_contact_works_with_clearance(client, auth, world, term, party):
    """With enough clearance the same search finds the party and names the contact."""
    auth.login("operator", clearance=3)
    body = text(
        client.get(
            "/anagrafiche/",
            query_string={"q": term},
            headers={"HX-Request": "true", "HX-Target": "party-results"},
        )
    )
    assert party in body
    assert "<strong>1</strong> anagrafica" in body
    assert "contatto:" in body


def test_tag_filter_ignores_hidden_contacts(client, auth, world):
    """Only Carla (level 3) has the tag «vip»: at clearance 1 the filter finds nothing."""
    auth.login("operator", clearance=1)
    body = text(client.get("/anagrafiche/", query_string={"tag": world["vip"]}))
    assert "Nessuna anagrafica" in body
    auth.logout()
    auth.login("boss", roles=["manager"], clearance=3)
    assert "ACME Utensili" in text(client.get("/anagrafiche/", query_string={"tag": world["vip"]}))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_leaves_out_hidden_contacts(client, auth, world, fmt):
    """The contacts export contains only visible contacts and is audited."""
    auth.login("operator", clearance=1)
    response = client.get(f"/anagrafiche/export.{fmt}")
    assert response.status_code == 200
    if fmt == "csv":
        content = response.data.decode("utf-8-sig")
    else:
        sheet = load_workbook(io.BytesIO(response.data)).active
        content = "\n".join(
            ";".join(str(c) if c is not None else "" for c in row)
            for row in sheet.iter_rows(values_only=True)
        )
    assert "mario@acme.it" in content and "irene@acme.it" in content
    for hidden in [*HIDDEN_AT_1, "zeta@beta.it"]:
        assert hidden not in content
    assert len(content.strip().splitlines()) == 3  # header + 2 contacts
    from mailer.models import AuditEvent

    with client.application.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "contacts.export"))
        assert event is not None and event.details["rows"] == 2 and event.details["format"] == fmt


def test_hidden_contact_urls_answer_404(client, auth, world):
    """A hidden contact's card, edit form, update and delete all answer 404, and nothing changes."""
    auth.login("operator", clearance=1)
    cid = world["carla"]
    assert client.get(f"/anagrafiche/contacts/{cid}", headers={"HX-Request": "true"}).status_code == 404
    assert client.get(f"/anagrafiche/contacts/{cid}/edit", headers={"HX-Request": "true"}).status_code == 404
    assert (
        client.post(f"/anagrafiche/contacts/{cid}", data={"name": "Hacked", "privacy_level": "0"}).status_code
        == 404
    )
    assert client.post(f"/anagrafiche/contacts/{cid}/delete").status_code == 404
    # Same answer as a contact that does not exist at all.
    assert client.get("/anagrafiche/contacts/999999/edit", headers={"HX-Request": "true"}).status_code == 404
    from mailer.models import Contact

    with client.application.app_context():
        carla = db.session.get(Contact, cid)
        assert carla is not None and carla.name == "Carla Confidenziale"


def test_history_hides_entries_of_hidden_contacts(client, auth, make_user, world):
    """History entries of a confidential contact (or of data that was confidential) stay hidden."""
    auth.login("boss", roles=["manager"], clearance=3)
    acme = world["acme"]
    form = {"name": "Nuova Segreta", "email": "segreta@acme.it", "privacy_level": "3"}
    assert client.post(f"/anagrafiche/{acme}/contacts", data=form).status_code == 302
    # A contact that was confidential and becomes public: the change of level stays hidden.
    form = {"name": "Rita Riservata", "email": "rita@acme.it", "privacy_level": "0"}
    assert client.post(f"/anagrafiche/contacts/{world['rita']}", data=form).status_code == 302
    body = text(client.get(f"/anagrafiche/{acme}"))
    assert "Nuova Segreta" in body and body.count("Rita Riservata") >= 2
    auth.logout()
    auth.login("operator", clearance=1)
    body = text(client.get(f"/anagrafiche/{acme}"))
    history = body.split('id="contact-history"')[1]
    assert "Nuova Segreta" not in history and "segreta@acme.it" not in history
    assert "Riservato" not in history  # the old level of Rita is not shown
    assert "Rita Riservata" in body.split('id="contact-history"')[0]  # Rita is public now: her card shows


def test_coverage_counts_only_visible_receivers(client, auth, world):
    """FATTURA: ACME is covered by Mario (public). DDT: only hidden contacts receive it at ACME and BETA."""
    auth.login("operator", clearance=1)
    body = text(client.get("/anagrafiche/coverage/DDT"))
    assert "ACME Utensili" in body and "Beta Commerciale" in body
    assert "2 anagrafiche attive" in body
    body = text(client.get("/anagrafiche/coverage/FATTURA"))
    assert "ACME Utensili" not in body and "Beta Commerciale" in body
    auth.logout()
    auth.login("boss", roles=["manager"], clearance=3)
    body = text(client.get("/anagrafiche/coverage/DDT"))
    assert "Tutte le anagrafiche hanno qualcuno" in body


def test_visible_contacts_query_for_other_areas(app_ctx, world):
    """The service other areas call returns only contacts within the clearance."""
    from mailer.models import User
    from mailer.services.contacts import visible_contacts_query

    for level, expected in [(0, 1), (1, 2), (2, 3), (3, 5)]:
        assert len(db.session.scalars(visible_contacts_query(level)).all()) == expected
    user = User(username="x", password_hash="x", privacy_clearance=2)
    names = {c.name for c in db.session.scalars(visible_contacts_query(user))}
    assert names == {"Mario Pubblico", "Irene Interna", "Rita Riservata"}


def test_cannot_assign_level_above_own_clearance(client, auth, world):
    """An operator with clearance 1 cannot create a contact they could not see; nothing is written."""
    auth.login("operator", clearance=1)
    response = client.post(
        f"/anagrafiche/{world['gamma']}/contacts",
        data={"name": "Troppo Alto", "email": "alto@gamma.it", "privacy_level": "2"},
        headers={"HX-Request": "true"},
    )
    assert "Non puoi assegnare un livello di riservatezza superiore al tuo" in text(response)
    from mailer.models import Contact

    with client.application.app_context():
        assert db.session.scalar(db.select(Contact).where(Contact.name == "Troppo Alto")) is None
