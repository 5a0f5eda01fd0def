"""Inline contact editing: validation next to the field, nothing half-written, PEC, defaults, history."""

import json

import pytest

from mailer.extensions import db

HX = {"HX-Request": "true"}


def contact_named(app, name):
    """The contact with that name, or None."""
    from mailer.models import Contact

    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.name == name))
        if contact is not None:
            db.session.expunge(contact)
        return contact


def function_id(app, code):
    """Id of a contact function."""
    from mailer.models import ContactFunction

    with app.app_context():
        return db.session.scalar(db.select(ContactFunction.id).where(ContactFunction.code == code))


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"name": "", "email": ""}, "name", "Indica almeno il nome o l&#39;indirizzo e-mail"),
        ({"email": "mario@@acme.it"}, "email", "deve contenere una sola @"),
        ({"email": "mario@acme"}, "email", "il dominio deve contenere un punto"),
        ({"phone": "chiamami"}, "phone", "Telefono non valido"),
        (
            {"email": "", "document_types": ["FATTURA"]},
            "document_types",
            "Per ricevere documenti serve un indirizzo e-mail",
        ),
        ({"marketing_consent": "1"}, "consent_date", "indica la data in cui è stato dato"),
        ({"marketing_consent": "1", "consent_date": "2020-01-01"}, "consent_source", "indica la fonte"),
        ({"consent_date": "2999-01-01"}, "consent_date", "non può essere nel futuro"),
        ({"privacy_level": "7"}, "privacy_level", "Livello di riservatezza non valido"),
        ({"function": "999"}, "function", "Funzione sconosciuta"),
    ],
)
def test_invalid_contact_shows_error_next_to_field_and_writes_nothing(
    client, auth, app, world, fields, field, message
):
    """Each bad value comes back in the form, next to its field, in Italian; no row is written."""
    auth.login("operator", clearance=3)
    data = {"name": "Prova Errore", "email": "prova@gamma.it", "privacy_level": "0", **fields}
    response = client.post(f"/anagrafiche/{world['gamma']}/contacts", data=data, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in body
    assert "nulla è stato salvato" in body
    # The message sits in the same <label> as its field.
    label = next(part for part in body.split("<label") if message in part)
    assert f'name="{field}"' in label
    from mailer.models import Contact, ContactChange

    with app.app_context():
        assert (
            db.session.scalar(db.select(db.func.count(Contact.id)).where(Contact.party_id == world["gamma"]))
            == 0
        )
        assert db.session.scalar(db.select(db.func.count(ContactChange.id))) == 0


def test_invalid_update_leaves_contact_untouched(client, auth, app, world):
    """A failed update keeps every old value (no partial write), then a valid one saves all of them."""
    auth.login("operator", clearance=3)
    url = f"/anagrafiche/contacts/{world['mario']}"
    bad = {"name": "Mario Cambiato", "email": "non-valida", "phone": "02 123", "privacy_level": "0"}
    body = client.post(url, data=bad, headers=HX).get_data(as_text=True)
    assert "Indirizzo e-mail non valido" in body
    assert 'value="Mario Cambiato"' in body  # what was typed comes back
    mario = contact_named(app, "Mario Pubblico")
    assert mario is not None and mario.phone == "" and mario.email == "mario@acme.it"
    good = {
        "name": "Mario Cambiato",
        "email": "mario.c@acme.it",
        "phone": "02 123",
        "privacy_level": "0",
        "document_types": ["FATTURA", "ESTRATTO_CONTO"],
    }
    body = client.post(url, data=good, headers=HX).get_data(as_text=True)
    assert f'id="contact-{world["mario"]}"' in body and "mario.c@acme.it" in body
    assert 'hx-swap-oob="true"' in body  # the history is refreshed too
    changed = contact_named(app, "Mario Cambiato")
    assert changed.email == "mario.c@acme.it" and changed.phone == "02 123"


def test_create_records_history_with_user(client, auth, app, world):
    """A new contact shows up in the list and in the history, with who did it."""
    auth.login("operator", clearance=3)
    data = {
        "name": "Lucia Logistica",
        "email": "lucia@gamma.it",
        "privacy_level": "0",
        "function": str(function_id(app, "logistica")),
        "document_types": ["DDT"],
        "tags": "fiera, vip",
    }
    response = client.post(f"/anagrafiche/{world['gamma']}/contacts", data=data, headers=HX)
    assert response.headers["HX-Retarget"] == "#party-contacts"
    body = response.get_data(as_text=True)
    assert "Lucia Logistica" in body and "(1)" in body
    history = body.split('id="contact-history"')[1]
    assert "operator" in history and "aggiunto" in history and "lucia@gamma.it" in history
    lucia = contact_named(app, "Lucia Logistica")
    from mailer.models import Contact, ContactChange

    with app.app_context():
        lucia = db.session.get(Contact, lucia.id)
        assert lucia.document_type_codes == {"DDT"}
        assert sorted(t.name for t in lucia.tags) == ["fiera", "vip"]
        change = db.session.scalar(db.select(ContactChange).where(ContactChange.contact_id == lucia.id))
        assert change.action == "create" and json.loads(change.changes)["email"] == ["", "lucia@gamma.it"]


def test_update_history_lists_old_and_new_values(client, auth, app, world):
    """An update records only the fields that changed, old → new."""
    auth.login("operator", clearance=3)
    data = {
        "name": "Mario Pubblico",
        "email": "mario@acme.it",
        "phone": "+39 02 555",
        "privacy_level": "0",
        "function": str(function_id(app, "amministrazione")),
        "document_types": ["FATTURA"],
    }
    client.post(f"/anagrafiche/contacts/{world['mario']}", data=data, headers=HX)
    from mailer.models import ContactChange

    with app.app_context():
        change = db.session.scalar(db.select(ContactChange).where(ContactChange.contact_id == world["mario"]))
        changes = json.loads(change.changes)
    assert changes.pop("_contact") == "Mario Pubblico <mario@acme.it>"
    assert changes == {"phone": ["", "+39 02 555"]}
    body = client.get(f"/anagrafiche/{world['acme']}").get_data(as_text=True).split('id="contact-history"')[1]
    assert "Telefono:" in body and "+39 02 555" in body and "modificato" in body


def test_saving_unchanged_contact_records_nothing(client, auth, app, world):
    """Saving without changes adds no history entry."""
    auth.login("operator", clearance=3)
    data = {"name": "Irene Interna", "email": "irene@acme.it", "privacy_level": "1"}
    client.post(f"/anagrafiche/contacts/{world['irene']}", data=data, headers=HX)
    from mailer.models import ContactChange

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ContactChange.id))) == 0


def test_delete_keeps_history(client, auth, app, world):
    """Deleting removes the card and leaves a history entry with the last values."""
    auth.login("operator", clearance=3)
    response = client.post(f"/anagrafiche/contacts/{world['irene']}/delete", headers=HX)
    body = response.get_data(as_text=True)
    assert 'id="contact-count" hx-swap-oob="true"' in body and "(3)" in body
    assert "eliminato" in body and "irene@acme.it" in body
    assert contact_named(app, "Irene Interna") is None
    page = client.get(f"/anagrafiche/{world['acme']}").get_data(as_text=True)
    assert "Irene Interna" in page.split('id="contact-history"')[1]
    assert f'id="contact-{world["irene"]}"' not in page


@pytest.mark.parametrize(
    "email, pec_choice, expected_pec, manual",
    [
        ("ufficio@acme.legalmail.it", "auto", True, False),
        ("ufficio@pec.it", "auto", True, False),
        ("ufficio@acme.it", "auto", False, False),
        ("ufficio@acme.it", "si", True, True),  # a person overrides: it is PEC after all
        ("ufficio@pec.it", "no", False, True),
    ],
)
def test_pec_flag_detected_or_overridden(client, auth, app, world, email, pec_choice, expected_pec, manual):
    """PEC comes from the domain unless the user chooses."""
    auth.login("operator", clearance=3)
    client.post(
        f"/anagrafiche/{world['gamma']}/contacts",
        data={"name": "Casella", "email": email, "pec": pec_choice, "privacy_level": "0"},
        headers=HX,
    )
    box = contact_named(app, "Casella")
    assert (box.is_pec, box.pec_flag_manual) == (expected_pec, manual)


@pytest.mark.parametrize(
    "email, fragment",
    [
        ("amministrazione@azienda.legalmail.it", "Indirizzo PEC: dominio del gestore «legalmail.it»"),
        ("mario@azienda.it", "Indirizzo ordinario"),
        ("mario@", "manca il dominio"),
    ],
)
def test_inline_email_check(client, auth, email, fragment):
    """The e-mail field is checked as the user types."""
    auth.login("operator")
    body = client.get(
        "/anagrafiche/contacts/check-email", query_string={"email": email}, headers=HX
    ).get_data(as_text=True)
    assert fragment in body


def test_new_form_ticks_types_from_coverage_link(client, auth, world):
    """The coverage link opens the party page with the form open and the missing type ticked."""
    auth.login("operator", clearance=3)
    body = client.get(f"/anagrafiche/{world['gamma']}?new=1&types=ORDINE_FORNITORE").get_data(as_text=True)
    assert 'id="contact-new"' in body
    assert 'value="ORDINE_FORNITORE" checked' in body
    assert 'value="DDT" checked' not in body


def test_form_carries_function_defaults(client, auth, app, world):
    """The new-contact form carries each function's default types for the client-side ticking."""
    auth.login("operator", clearance=3)
    body = client.get(f"/anagrafiche/{world['gamma']}/contacts/new", headers=HX).get_data(as_text=True)
    admin_id = function_id(app, "amministrazione")
    start = body.index("data-function-defaults='") + len("data-function-defaults='")
    defaults = json.loads(body[start : body.index("'", start)])
    assert {"FATTURA", "ESTRATTO_CONTO"} <= set(defaults[str(admin_id)])
    assert "data-new-contact" in body


def test_edit_and_cancel_fragments(client, auth, world):
    """The edit form replaces the card; cancel brings the card back."""
    auth.login("operator", clearance=3)
    form = client.get(f"/anagrafiche/contacts/{world['mario']}/edit", headers=HX).get_data(as_text=True)
    assert 'value="Mario Pubblico"' in form and 'value="FATTURA" checked' in form
    card = client.get(f"/anagrafiche/contacts/{world['mario']}", headers=HX).get_data(as_text=True)
    assert card.strip().startswith('<article class="contact-card') and "mario@acme.it" in card


def test_function_admin_changes_defaults(client, auth, app):
    """An admin adds a function with its default types; a duplicate code is refused next to the field."""
    auth.login("admin")
    response = client.post(
        "/anagrafiche/functions",
        data={"code": "legale", "name": "Ufficio legale", "types": ["DICHIARAZIONE_INTENTO"]},
    )
    assert response.status_code == 302
    from mailer.models import ContactFunction

    with app.app_context():
        legal = db.session.scalar(db.select(ContactFunction).where(ContactFunction.code == "legale"))
        assert [t.code for t in legal.default_types] == ["DICHIARAZIONE_INTENTO"]
    response = client.post("/anagrafiche/functions", data={"code": "legale", "name": "Di nuovo"})
    assert response.status_code == 422
    assert "Esiste già una funzione con codice «legale»" in response.get_data(as_text=True)


def test_non_htmx_fallback_redirects(client, auth, world):
    """Without JavaScript, the form posts and redirects back to the party page with a message."""
    auth.login("operator", clearance=3)
    response = client.post(
        f"/anagrafiche/{world['gamma']}/contacts",
        data={"name": "Senza JS", "email": "nojs@gamma.it", "privacy_level": "0"},
        follow_redirects=True,
    )
    body = response.get_data(as_text=True)
    assert "Contatto «Senza JS &lt;nojs@gamma.it&gt;» aggiunto." in body
    response = client.post(
        f"/anagrafiche/{world['gamma']}/contacts", data={"email": "bad", "privacy_level": "0"}
    )
    assert response.status_code == 422 and "Indirizzo e-mail non valido" in response.get_data(as_text=True)
