"""The office queue of the recipients' requests: each kind end to end (accept → contact changed with history;
refuse → unchanged), counts in the menu and dashboard, privacy, audit."""

from __future__ import annotations

import json
import re

from mailer.extensions import db
from mailer.models import AuditEvent, Contact, ContactChange, PreferenceRequest
from tests.support.preferences import contact_types, history_count, requests_of


def _ask(app, link: str, **form) -> None:
    """What the recipient does on the public page (no login)."""
    response = app.test_client().post(link, data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def _only_request(app) -> int:
    """The id of the one request recorded."""
    with app.app_context():
        ids = db.session.scalars(db.select(PreferenceRequest.id)).all()
        db.session.remove()
    assert len(ids) == 1
    return ids[0]


def _changes_of(app, contact_id: int) -> list[dict]:
    """The history entries of a contact, oldest first, with who made them."""
    with app.app_context():
        rows = db.session.scalars(
            db.select(ContactChange).where(ContactChange.contact_id == contact_id).order_by(ContactChange.id)
        ).all()
        result = [{"user_id": r.user_id, **json.loads(r.changes)} for r in rows]
        db.session.remove()
        return result


def test_stop_request_end_to_end(app, client, auth, prefs_world):
    """«Non ricevere più»: pending and applied only when an operator accepts; the history names the operator."""
    _ask(app, prefs_world["link"], action="stop", type_code="INSOLUTO", note="Lo gestisce lo studio")
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA", "INSOLUTO"}  # never applied by itself
    assert history_count(app) == 0
    auth.login("operatore", roles=["operator"], clearance=1)
    with app.app_context():
        from mailer.models import User

        operator = db.session.scalar(db.select(User.id).where(User.username == "operatore"))
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "amm@alfa.example riceve: Fattura (copia di cortesia), Sollecito di pagamento (insoluto)" in page
    assert "amm@alfa.example non riceve più: Sollecito di pagamento (insoluto)" in page
    assert "Lo gestisce lo studio" in page
    assert re.search(r"Richieste contatti <span class=\"badge badge-warn\"[^>]*>1</span>", page)
    dashboard = client.get("/").get_data(as_text=True)
    assert "1 richiesta da esaminare" in dashboard
    request_id = _only_request(app)
    response = client.post(f"/preferenze/richieste/{request_id}/accetta", follow_redirects=True)
    assert "accettata" in response.get_data(as_text=True)
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA"}
    changes = _changes_of(app, prefs_world["amm"])
    assert changes[-1]["document_types"] == ["FATTURA, INSOLUTO", "FATTURA"]
    assert changes[-1]["user_id"] == operator
    assert requests_of(app) == [("stop", "accepted", "amm@alfa.example")]
    with app.app_context():
        actions = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert (
            "preference.submitted" in actions
            and "preference.accepted" in actions
            and "contact.update" in actions
        )
    # Decided: no longer counted, listed under «Accettata».
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "Nessuna richiesta da esaminare" in page and "badge-warn" not in page
    assert "Accettata il" in client.get("/preferenze/richieste/?stato=accepted").get_data(as_text=True)
    # Accepting twice does nothing more.
    client.post(f"/preferenze/richieste/{request_id}/accetta")
    assert len(_changes_of(app, prefs_world["amm"])) == len(changes)


def test_redirect_request_end_to_end(app, client, auth, prefs_world):
    """«Riceverlo a un altro indirizzo»: the type leaves the old address and goes to a new contact of the party."""
    _ask(app, prefs_world["link"], action="redirect", type_code="FATTURA", new_email="fatture@alfa.example")
    auth.login("operatore", roles=["operator"], clearance=1)
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "Fattura (copia di cortesia) a amm@alfa.example" in page
    assert "Fattura (copia di cortesia) a fatture@alfa.example (non più a amm@alfa.example)" in page
    client.post(f"/preferenze/richieste/{_only_request(app)}/accetta")
    assert contact_types(app, prefs_world["amm"]) == {"INSOLUTO"}
    with app.app_context():
        new = db.session.scalar(db.select(Contact).where(Contact.email == "fatture@alfa.example"))
        assert new.party_id == prefs_world["alfa"] and new.document_type_codes == {"FATTURA"}
        assert new.privacy_level == 0
        new_id = new.id
    assert _changes_of(app, new_id)[0]["email"] == ["", "fatture@alfa.example"]


def test_redirect_to_an_existing_contact_adds_the_type(app, client, auth, prefs_world):
    """The new address already belongs to a visible contact of the party: it gets the type, no duplicate."""
    with app.app_context():
        db.session.get(Contact, prefs_world["ceo"]).privacy_level = 0
        db.session.commit()
    _ask(app, prefs_world["link"], action="redirect", type_code="INSOLUTO", new_email="CEO@alfa.example")
    auth.login("operatore", roles=["operator"], clearance=1)
    client.post(f"/preferenze/richieste/{_only_request(app)}/accetta")
    assert contact_types(app, prefs_world["ceo"]) == {"FATTURA", "INSOLUTO"}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Contact.id))) == 3


def test_colleague_request_end_to_end(app, client, auth, prefs_world):
    """«Aggiungere un collega»: accepted, a new contact with the name, the address and the chosen types."""
    _ask(
        app,
        prefs_world["link"],
        action="colleague",
        new_name="  Giulia   Verdi ",
        new_email="giulia.verdi@alfa.example",
        type_codes=["FATTURA", "INSOLUTO"],
    )
    auth.login("manager", roles=["manager"], clearance=3)
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "Nuovo contatto Giulia Verdi &lt;giulia.verdi@alfa.example&gt;" in page
    client.post(f"/preferenze/richieste/{_only_request(app)}/accetta")
    with app.app_context():
        new = db.session.scalar(db.select(Contact).where(Contact.email == "giulia.verdi@alfa.example"))
        assert new.name == "Giulia Verdi" and new.document_type_codes == {"FATTURA", "INSOLUTO"}
        assert "richiesta n." in new.notes
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA", "INSOLUTO"}  # the asker keeps theirs


def test_refuse_keeps_the_contact_and_needs_a_reason(app, client, auth, prefs_world):
    """Refusing records the reason and changes no contact; without a reason it is not refused."""
    _ask(app, prefs_world["link"], action="stop", type_code="FATTURA")
    auth.login("operatore", roles=["operator"], clearance=1)
    request_id = _only_request(app)
    response = client.post(
        f"/preferenze/richieste/{request_id}/rifiuta", data={"reason": " "}, follow_redirects=True
    )
    assert "Scrivi il motivo del rifiuto" in response.get_data(as_text=True)
    assert requests_of(app) == [("stop", "pending", "amm@alfa.example")]
    client.post(
        f"/preferenze/richieste/{request_id}/rifiuta", data={"reason": "Serve per il contratto in essere"}
    )
    assert requests_of(app) == [("stop", "refused", "amm@alfa.example")]
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA", "INSOLUTO"}
    assert history_count(app) == 0
    page = client.get("/preferenze/richieste/?stato=refused").get_data(as_text=True)
    assert "Serve per il contratto in essere" in page
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "preference.refused")
            )
            == 1
        )
    # A refused request cannot then be accepted.
    client.post(f"/preferenze/richieste/{request_id}/accetta")
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA", "INSOLUTO"}


def test_a_request_that_no_longer_applies_is_not_half_written(app, client, auth, prefs_world):
    """The address stopped receiving the type meanwhile: the operator is told, nothing changes, it stays pending."""
    _ask(app, prefs_world["link"], action="redirect", type_code="INSOLUTO", new_email="nuovo@alfa.example")
    with app.app_context():
        contact = db.session.get(Contact, prefs_world["amm"])
        contact.document_types = [t for t in contact.document_types if t.code != "INSOLUTO"]
        db.session.commit()
    auth.login("operatore", roles=["operator"], clearance=1)
    response = client.post(f"/preferenze/richieste/{_only_request(app)}/accetta", follow_redirects=True)
    assert "non c&#39;è niente da cambiare" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Contact).where(Contact.email == "nuovo@alfa.example")) is None
    assert requests_of(app) == [("redirect", "pending", "amm@alfa.example")]


def test_a_confidential_address_request_is_seen_only_with_clearance(app, client, auth, prefs_world):
    """A request about a level-3 contact: not listed, not counted and not decidable below level 3."""
    _ask(
        app,
        prefs_world["ceo_link"],
        action="colleague",
        new_name="Segretaria",
        new_email="segreteria@alfa.example",
        type_codes="FATTURA",
    )
    request_id = _only_request(app)
    auth.login("operatore", roles=["operator"], clearance=1)
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "ceo@alfa.example" not in page and "Segretaria" not in page and "badge-warn" not in page
    assert "Nessuna richiesta da esaminare" in page
    assert "richiesta da esaminare" not in client.get("/").get_data(as_text=True)
    assert client.post(f"/preferenze/richieste/{request_id}/accetta").status_code == 404
    assert (
        client.post(f"/preferenze/richieste/{request_id}/rifiuta", data={"reason": "no"}).status_code == 404
    )
    assert requests_of(app) == [("colleague", "pending", "ceo@alfa.example")]
    client.post("/auth/logout")
    auth.login("capo", roles=["manager"], clearance=3)
    page = client.get("/preferenze/richieste/").get_data(as_text=True)
    assert "ceo@alfa.example" in page and "Segretaria" in page
    client.post(f"/preferenze/richieste/{request_id}/accetta")
    with app.app_context():
        new = db.session.scalar(db.select(Contact).where(Contact.email == "segreteria@alfa.example"))
        assert new.privacy_level == 3  # as confidential as who asked for it


def test_sales_cannot_open_the_queue(app, client, auth, prefs_world):
    """The queue is for operators and managers."""
    auth.login("venditore", roles=["sales"], clearance=3)
    assert client.get("/preferenze/richieste/").status_code == 403
    assert "Richieste contatti" not in client.get("/").get_data(as_text=True)
