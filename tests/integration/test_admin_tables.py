"""Amministrazione › Zone, agenti e categorie: list, add, rename, delete, with audit and the party import."""

from __future__ import annotations

import io
import re

import pytest

from mailer.extensions import db
from mailer.models import Agent, AuditEvent, Category, Party, SavedFilter, Zone

MODELS = {"zones": Zone, "agents": Agent, "categories": Category}
NEW = {
    "zones": {"code": "est", "name": "Nord-Est"},
    "agents": {"code": "ag9", "name": "Nina Nuova", "email": "nina@agenti.example"},
    "categories": {"code": "gdo", "name": "GDO"},
}


def _rows(app, kind):
    """(code, name[, email]) of every row of a table, by code."""
    model = MODELS[kind]
    with app.app_context():
        rows = db.session.scalars(db.select(model).order_by(model.code)).all()
        return [(r.code, r.name, r.email) if kind == "agents" else (r.code, r.name) for r in rows]


def _audit(app, prefix):
    """(action, details) of the audit events whose action starts with the prefix."""
    with app.app_context():
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.details, e.username) for e in events]


def _id(app, kind, code):
    """The id of a row by code."""
    model = MODELS[kind]
    with app.app_context():
        return db.session.scalar(db.select(model.id).where(model.code == code))


def test_fresh_install_shows_empty_tables_with_add_forms(client, auth):
    """No zones, agents or categories yet: each section says so and offers its add form."""
    auth.login("admin")
    page = client.get("/admin/tables").get_data(as_text=True)
    assert (
        "Nessuna zona ancora" in page
        and "Nessun agente ancora" in page
        and "Nessuna categoria ancora" in page
    )
    for kind in MODELS:
        assert f'action="/admin/tables/{kind}#{kind}"' in page
    assert 'aria-current="page">Zone, agenti e categorie' in page  # the admin sub-navigation


@pytest.mark.parametrize("kind", MODELS)
def test_create_rename_delete(app, client, auth, kind):
    """Each kind: added with an upper-case code, renamed (code unchanged), deleted; every change audited."""
    auth.login("admin")
    prefix = {"zones": "zone.", "agents": "agent.", "categories": "category."}[kind]
    response = client.post(f"/admin/tables/{kind}", data=NEW[kind])
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/tables#{kind}")
    code = NEW[kind]["code"].upper()
    expected = (
        (code, NEW[kind]["name"], NEW[kind]["email"]) if kind == "agents" else (code, NEW[kind]["name"])
    )
    assert _rows(app, kind) == [expected]
    page = client.get("/admin/tables").get_data(as_text=True)
    assert f"<code>{code}</code>" in page and "aggiunt" in page

    entry_id = _id(app, kind, code)
    renamed = {"name": "  Nome   nuovo ", "code": "IGNORATO"}
    if kind == "agents":
        renamed["email"] = "nina.nuova@agenti.example"
    assert client.post(f"/admin/tables/{kind}/{entry_id}", data=renamed).status_code == 302
    row = _rows(app, kind)[0]
    assert row[:2] == (code, "Nome nuovo")  # the code is the ERP's key: it does not change
    if kind == "agents":
        assert row[2] == "nina.nuova@agenti.example"
    # saving again without changes writes no audit event
    assert client.post(f"/admin/tables/{kind}/{entry_id}", data=renamed).status_code == 302

    assert client.post(f"/admin/tables/{kind}/{entry_id}/delete").status_code == 302
    assert _rows(app, kind) == []

    events = _audit(app, prefix)
    assert [action for action, _details, _user in events] == [
        prefix + "create",
        prefix + "update",
        prefix + "delete",
    ]
    create, update, delete = (details for _action, details, _user in events)
    assert create["code"] == code and create["name"] == NEW[kind]["name"]
    assert update["changes"]["name"] == [NEW[kind]["name"], "Nome nuovo"]
    if kind == "agents":
        assert update["changes"]["email"] == ["nina@agenti.example", "nina.nuova@agenti.example"]
    assert delete == {"code": code, "name": "Nome nuovo"}
    assert all(user == "admin" for _a, _d, user in events)


@pytest.mark.parametrize(
    "kind, code", [("zones", "nord"), ("zones", " Nord "), ("agents", "a1"), ("categories", "Ing")]
)
def test_duplicate_code_is_refused_whatever_the_case(app, client, auth, world, kind, code):
    """Codes are unique regardless of case, as the import compares them: 422 with the error at the field."""
    auth.login("admin")
    before = _rows(app, kind)
    response = client.post(f"/admin/tables/{kind}", data={"code": code, "name": "Doppione", "email": ""})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<input name="code" value="[^"]*"[^>]*aria-invalid="true"', body)
    assert "Esiste già" in body and f"codice «{code.strip().upper()}»" in body
    assert _rows(app, kind) == before
    assert _audit(app, kind.rstrip("s").replace("categorie", "category")) == []


def test_existing_mixed_case_code_still_counts_as_taken(app, client, auth):
    """A code stored in lower case by an older import or the demo data blocks its upper-case twin."""
    with app.app_context():
        db.session.add(Zone(code="Lago", name="Lago di Garda"))
        db.session.commit()
    auth.login("admin")
    response = client.post("/admin/tables/zones", data={"code": "LAGO", "name": "Altro"})
    assert response.status_code == 422 and "Esiste già una zona con codice «Lago»" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "kind, form, field, message",
    [
        ("zones", {"code": "", "name": "Nord"}, "code", "Indica il codice (es. NORD)"),
        ("zones", {"code": "NORD EST", "name": "Nord-Est"}, "code", "solo lettere, cifre e - _ . /"),
        ("zones", {"code": "X" * 21, "name": "Lunga"}, "code", "al massimo 20 caratteri"),
        ("zones", {"code": "NE", "name": "   "}, "name", "Indica il nome della zona."),
        ("categories", {"code": "C1", "name": "N" * 121}, "name", "al massimo 120 caratteri"),
        ("agents", {"code": "AG1", "name": "Aldo", "email": "aldo@@agenti.example"}, "email", "una sola @"),
        (
            "agents",
            {"code": "AG1", "name": "Aldo", "email": "aldo@agenti"},
            "email",
            "il dominio deve contenere un punto",
        ),
        ("agents", {"code": "AG1", "name": "", "email": ""}, "name", "Indica il nome dell'agente."),
    ],
)
def test_add_form_errors_are_inline_and_in_italian(app, client, auth, kind, form, field, message):
    """A bad field comes back marked, with its message next to it, the values kept, and nothing written."""
    auth.login("admin")
    response = client.post(f"/admin/tables/{kind}", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    section = body.split(f'id="{kind}"')[1].split("</article>")[0]
    shown = re.escape(message.replace("'", "&#39;"))
    assert re.search(
        rf'name="{field}"[^>]*aria-invalid="true"[^>]*>\s*<small class="field-error">[^<]*{shown}', section
    ), section
    if form.get("name", "").strip():
        assert f'value="{form["name"]}"' in section  # what was typed is still there
    assert _rows(app, kind) == []


def test_rename_errors_are_shown_on_the_row(app, client, auth, world):
    """An invalid rename answers 422 with the error in the row being edited; the stored row is unchanged."""
    auth.login("admin")
    response = client.post(
        f"/admin/tables/agents/{world['a1']}", data={"name": "Aldo Agente", "email": "senza-chiocciola"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    row = body.split(f'id="agents-{world["a1"]}"')[1].split("</tr>")[0]
    assert (
        'value="senza-chiocciola"' in row
        and 'aria-invalid="true"' in row
        and "deve contenere una sola @" in row
    )
    assert ("A1", "Aldo Agente", "") in _rows(app, "agents")


def test_delete_in_use_is_refused_with_how_many(app, client, auth, world):
    """A zone used by parties (and a category named in a saved filter) stays, and the page says why."""
    auth.login("admin")
    with app.app_context():
        admin_id = db.session.scalar(db.select(AuditEvent.user_id).where(AuditEvent.action == "login"))
        db.session.add(
            SavedFilter(
                name="Ingrosso nord",
                conditions=[
                    {
                        "type": "category",
                        "ids": [db.session.scalar(db.select(Category.id).where(Category.code == "ING"))],
                    }
                ],
                owner_id=admin_id,
            )
        )
        db.session.commit()
    response = client.post(f"/admin/tables/zones/{world['nord']}/delete")
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Non si può eliminare la zona «NORD»: è usata da 2 anagrafiche" in body
    assert ("NORD", "Nord") in _rows(app, "zones")
    response = client.post(f"/admin/tables/zones/{world['sud']}/delete")
    assert "è usata da 1 anagrafica." in response.get_data(as_text=True)
    category_id = _id(app, "categories", "ING")
    response = client.post(f"/admin/tables/categories/{category_id}/delete")
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "è usata da 1 anagrafica e da 1 filtro salvato («Ingrosso nord»)" in body
    assert _audit(app, "zone.") == [] and _audit(app, "category.") == []
    # once nothing uses it, it goes
    with app.app_context():
        for party in db.session.scalars(db.select(Party).where(Party.zone_id == world["sud"])):
            party.zone_id = None
        db.session.commit()
    assert client.post(f"/admin/tables/zones/{world['sud']}/delete").status_code == 302
    assert [code for code, _name in _rows(app, "zones")] == ["NORD"]


def test_page_lists_rows_with_party_counts_linking_to_the_list(client, auth, world):
    """Each row shows how many parties use it, linked to the party list filtered on it."""
    auth.login("admin")
    page = client.get("/admin/tables").get_data(as_text=True)
    assert f'href="/anagrafiche/?zone={world["nord"]}">2</a>' in page
    assert f'href="/anagrafiche/?agent={world["a2"]}">1</a>' in page


@pytest.mark.parametrize("role", ["manager", "operator", "sales"])
def test_only_admins(app, client, auth, world, role):
    """Other roles get 403 on every endpoint and nothing changes."""
    auth.login(role)
    assert client.get("/admin/tables").status_code == 403
    assert client.post("/admin/tables/zones", data={"code": "X", "name": "X"}).status_code == 403
    assert client.post(f"/admin/tables/zones/{world['nord']}", data={"name": "Cambiato"}).status_code == 403
    assert client.post(f"/admin/tables/agents/{world['a1']}/delete").status_code == 403
    assert _rows(app, "zones") == [("NORD", "Nord"), ("SUD", "Sud")]
    assert len(_rows(app, "agents")) == 2


def test_post_without_csrf_token_is_refused(app, auth, client):
    """The site-wide CSRF protection covers these forms too (test_security_web walks every POST)."""
    auth.login("admin")
    assert client.post("/admin/tables/zones", data={"code": "X", "name": "X"}, csrf=False).status_code == 400
    assert _rows(app, "zones") == []


def test_unknown_kind_or_row_is_404(client, auth):
    """Only the three tables exist; a missing row is 404."""
    auth.login("admin")
    assert client.post("/admin/tables/products", data={"code": "X", "name": "X"}).status_code == 404
    assert client.post("/admin/tables/zones/999", data={"name": "X"}).status_code == 404
    assert client.post("/admin/tables/zones/999/delete").status_code == 404


PARTIES_NEW_ZONE = """codice;ragione_sociale;zona;agente;categoria
N100;Lago S.r.l.;garda;ag7;horeca
"""


def test_party_import_succeeds_once_the_codes_are_created_on_the_page(app, client, auth):
    """The import refuses unknown codes; after creating them on the page (in any case) it goes through."""
    from mailer.services.party_import import import_parties

    with app.app_context():
        report = import_parties(PARTIES_NEW_ZONE.encode(), "clienti.csv", dry_run=True)
        reasons = " | ".join(r for e in report.errors for r in e.reasons)
        assert "zona «garda» sconosciuta" in reasons and "agente «ag7» sconosciuto" in reasons
        assert "categoria «horeca» sconosciuta" in reasons
    auth.login("admin")
    for kind, form in (
        ("zones", {"code": "Garda", "name": "Lago di Garda"}),
        ("agents", {"code": "AG7", "name": "Sette Agente", "email": "sette@agenti.example"}),
        ("categories", {"code": "HORECA", "name": "Hotel e ristoranti"}),
    ):
        assert client.post(f"/admin/tables/{kind}", data=form).status_code == 302
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(PARTIES_NEW_ZONE.encode()), "clienti.csv")},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Il file è corretto" in body, body[:2000]
    sha = body.split('name="sha" value="')[1].split('"')[0]
    assert (
        client.post(
            "/anagrafiche/import/apply", data={"kind": "parties", "sha": sha, "filename": "clienti.csv"}
        ).status_code
        == 302
    )
    with app.app_context():
        party = db.session.scalar(db.select(Party).where(Party.erp_code == "N100"))
        assert (party.zone.code, party.agent.code, party.category.code) == ("GARDA", "AG7", "HORECA")


def test_cli_adds_and_lists_with_the_same_checks(app, runner):
    """`flask tables add` uses the page's rules (upper-case code, unique, e-mail checked) and is audited."""
    result = runner.invoke(
        args=["tables", "add", "agents", "ag5", "Cinzia Cinque", "--email", "cinzia@agenti.example"]
    )
    assert result.exit_code == 0 and "Agente «AG5» aggiunto." in result.output
    result = runner.invoke(args=["tables", "add", "agents", "Ag5", "Doppione"])
    assert result.exit_code == 1 and "Esiste già un agente con codice «AG5»" in result.output
    result = runner.invoke(
        args=["tables", "add", "zones", "N", "Nord", "--email", "x"]
    )  # e-mail only for agents
    assert result.exit_code == 0
    result = runner.invoke(args=["tables", "list", "agents"])
    assert result.output.splitlines() == ["AG5\tCinzia Cinque\tcinzia@agenti.example\t0"]
    assert [action for action, _d, _u in _audit(app, "agent.")] == ["agent.create"]
