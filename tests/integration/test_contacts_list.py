"""The party list: active search, filters, sorting, paging, count, fragment vs page, export."""

import pytest

from mailer.extensions import db

FRAGMENT = {"HX-Request": "true", "HX-Target": "party-results"}


def results(client, **args):
    """The results fragment for the query."""
    response = client.get("/anagrafiche/", query_string=args, headers=FRAGMENT)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "args, found, missing",
    [
        ({"q": "acme"}, ["ACME Utensili"], ["Beta Commerciale", "Gamma Forniture"]),
        ({"q": "C002"}, ["Beta Commerciale"], ["ACME Utensili"]),
        ({"q": "napoli"}, ["Beta Commerciale"], ["ACME Utensili"]),
        ({"q": "mario@acme"}, ["ACME Utensili"], ["Beta Commerciale"]),  # a visible contact's e-mail
        ({"q": "Pubblico"}, ["ACME Utensili"], ["Gamma Forniture"]),  # a visible contact's name
        ({"kind": "supplier"}, ["Gamma Forniture"], ["ACME Utensili", "Beta Commerciale"]),
        ({"province": "NA"}, ["Beta Commerciale"], ["ACME Utensili"]),
        ({"city": "torino"}, ["Gamma Forniture"], ["ACME Utensili"]),
    ],
)
def test_search_and_filters(client, auth, world, args, found, missing):
    """Text search over party fields and visible contacts; filters by kind, province, city."""
    auth.login("operator", clearance=1)
    body = results(client, **args)
    for name in found:
        assert name in body
    for name in missing:
        assert name not in body


def test_zone_and_agent_filters(client, auth, world):
    """Zone + agent narrow the list; the count says how many."""
    auth.login("operator", clearance=1)
    body = results(client, zone=world["nord"], agent=world["a1"])
    assert "<strong>2</strong> anagrafiche" in body and "ACME" in body and "Gamma" in body
    body = results(client, zone=world["nord"], agent=world["a1"], q="Pubblico")
    assert "<strong>1</strong> anagrafica" in body and "ACME" in body
    assert "Nessuna anagrafica" in results(client, zone=world["sud"], agent=world["a1"])


def test_sorting(client, auth, world):
    """Sorting by name descending reverses the order."""
    auth.login("operator")
    body = results(client, sort="-name")
    assert body.index("Gamma Forniture") < body.index("Beta Commerciale") < body.index("ACME Utensili")
    body = results(client, sort="city")
    assert body.index("Milano") < body.index("Napoli") < body.index("Torino")


def test_paging_and_count(client, auth, app):
    """120 parties: 50 per page, the count, and a page past the end shows the last one."""
    from mailer.models import Party

    with app.app_context():
        db.session.add_all([Party(erp_code=f"P{i:03d}", name=f"Ditta {i:03d}") for i in range(120)])
        db.session.commit()
    auth.login("operator")
    body = results(client)
    assert "<strong>120</strong> anagrafiche" in body and "1–50" in body and "Pagina 1 di 3" in body
    assert "Ditta 049" in body and "Ditta 050" not in body
    body = results(client, page=3)
    assert "101–120" in body and "Ditta 119" in body and "Successiva" not in body
    body = results(client, page=99)
    assert "Pagina 3 di 3" in body and "Ditta 119" in body


def test_full_page_vs_fragment(client, auth, world):
    """A plain GET gives the page with the search box; the htmx search gives only the results."""
    auth.login("operator")
    page = client.get("/anagrafiche/?q=acme")
    body = page.get_data(as_text=True)
    assert "<html" in body and 'name="q" value="acme"' in body and 'hx-push-url="true"' in body
    assert "HX-Request" in page.headers.get("Vary", "")
    fragment = results(client, q="acme")
    assert "<html" not in fragment and "ACME Utensili" in fragment


def test_empty_state_says_what_to_do(client, auth):
    """With no parties the list points to the import."""
    auth.login("operator")
    body = client.get("/anagrafiche/").get_data(as_text=True)
    assert "Importa clienti e fornitori dal gestionale" in body


def test_export_follows_filters(client, auth, world):
    """The export contains the filtered parties only, with import-compatible columns."""
    auth.login("operator", clearance=3)
    body = client.get(
        "/anagrafiche/export.csv", query_string={"what": "parties", "province": "NA"}
    ).data.decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("codice;ragione_sociale;tipo;partita_iva")
    assert len(lines) == 2 and lines[1].startswith("C002;Beta Commerciale S.p.A.;cliente")


def test_export_neutralises_formulas(client, auth, app, world):
    """A cell that starts like a formula is exported as text."""
    from mailer.models import Contact

    with app.app_context():
        db.session.add(Contact(party_id=world["gamma"], name='=HYPERLINK("http://x")', email="f@gamma.it"))
        db.session.commit()
    auth.login("operator", clearance=3)
    body = client.get("/anagrafiche/export.csv", query_string={"q": "gamma"}).data.decode("utf-8-sig")
    assert "'=HYPERLINK" in body


def test_coverage_summary_counts(client, auth, world):
    """Coverage page: FATTURA goes to 2 customers, 1 has nobody (at clearance 3, Beta)."""
    auth.login("operator", clearance=3)
    body = client.get("/anagrafiche/coverage").get_data(as_text=True)
    row = body.split("Fattura (copia di cortesia)")[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in row and ">1</span>" in row
    assert "/anagrafiche/coverage/FATTURA" in row
