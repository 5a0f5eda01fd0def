"""The sales filter never widens by mistake (issue 12.5): an unknown product or category marks the
condition red and blocks the count, the save and the campaign; the product picker finds codes by
code, description and category, for the roles that may build segments."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from mailer.models import Campaign, SavedFilter
from mailer.services import campaigns as campaign_svc
from mailer.services import segments
from tests.support.batches import make_account
from tests.support.campaigns import make_filter, make_generic_document

HX = {"HX-Request": "true"}


def _stat(page: str) -> list[str]:
    """The numbers shown in the result box (parties, contacts)."""
    return re.findall(r'<div class="stat[^"]*"><span>([^<]*)</span>', page)


def _error_slot(page: str, index: int) -> str:
    """Text of the error slot of condition `index` (in the builder or an out-of-band swap)."""
    match = re.search(rf'<small id="c{index}-error"[^>]*>(.*?)</small>', page, re.S)
    assert match, f"no error slot for condition {index}"
    return match.group(1).strip()


def test_product_description_blocks_the_live_count(app, client, auth, sales_world):
    """A description typed where a code goes: the count is not the unfiltered one, the condition goes red
    (out-of-band, next to it) with a hint to the code, and the sample lists nobody."""
    auth.login("giulia", roles=["sales"], clearance=3)
    form = {
        "c0-type": "kind",
        "c0-value": "customer",
        "c1-type": "bought",
        "c1-products": "Bulloni",
        "c1-period": "months",
        "c1-months": "12",
    }
    page = client.post("/campagne/filtri/conteggio", data=form, headers=HX).get_data(as_text=True)
    assert _stat(page) == ["—", "—"], "an invalid condition must not leave the count of the others"
    assert "Alfa S.r.l." not in page and "Beta S.p.A." not in page  # no sample either
    error = _error_slot(page, 1)
    assert "Bulloni" in error and "inesistent" in error and "A100" in error  # the hint: Bulloni is A100
    assert 'hx-swap-oob="true"' in page  # the red message reaches the condition while typing
    assert _error_slot(page, 0) == ""  # the valid condition is cleared
    assert "Correggi" in page
    # The same form with the code counts the customers who bought it.
    form["c1-products"] = "A100"
    page = client.post("/campagne/filtri/conteggio", data=form, headers=HX).get_data(as_text=True)
    assert _stat(page) == ["2", "5"] and _error_slot(page, 1) == ""


@pytest.mark.parametrize(
    "condition, message",
    [
        ({"c0-type": "category", "c0-ids": "999999"}, "Categoria cliente inesistente: 999999"),
        (
            {"c0-type": "bought", "c0-category": "999999", "c0-period": "months", "c0-months": "12"},
            "Categoria di prodotti inesistente: 999999",
        ),
        (
            {"c0-type": "bought", "c0-category": "Ferramenta", "c0-period": "months", "c0-months": "12"},
            "Categoria di prodotti inesistente: Ferramenta",
        ),
        ({"c0-type": "zone", "c0-ids": "abc"}, "Zona inesistente: abc"),
        ({"c0-type": "doctype", "c0-codes": "NONESISTE"}, "Tipo di documento inesistente: NONESISTE"),
    ],
)
def test_unknown_category_or_value_blocks_count_and_save(app, client, auth, sales_world, condition, message):
    """An id or code that names nothing is red in the count and refused on save (nothing written)."""
    auth.login("giulia", roles=["sales"], clearance=3)
    page = client.post("/campagne/filtri/conteggio", data=condition, headers=HX).get_data(as_text=True)
    assert message in _error_slot(page, 0)
    assert _stat(page) == ["—", "—"]
    response = client.post("/campagne/filtri/nuovo", data={"name": "Sbagliato", **condition})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in _error_slot(page, 0)
    assert 'class="condition has-error"' in page
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SavedFilter.id))) == 0


def test_unknown_product_refused_on_save(app, client, auth, sales_world):
    """Saving a filter whose product is a description writes nothing and says which condition is wrong."""
    auth.login("giulia", roles=["sales"], clearance=3)
    response = client.post(
        "/campagne/filtri/nuovo",
        data={
            "name": "Bulloni",
            "c0-type": "bought",
            "c0-products": "Bulloni",
            "c0-period": "months",
            "c0-months": "12",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Correggi le condizioni segnate" in page
    assert "Bulloni" in _error_slot(page, 0)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SavedFilter.id))) == 0


def test_campaign_refuses_a_saved_filter_that_no_longer_validates(app, sales_world, smtp_server, make_user):
    """A stored filter naming a product or category that does not exist (written before this check, or
    edited in the database) cannot start a campaign: the service refuses it on the filter field."""
    user_id = make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        from mailer.models import User

        account = make_account(smtp_server, name="Commerciale", from_address="vendite@azienda.example")
        db.session.commit()
        stale = make_filter(
            [{"type": "bought", "products": ["NONCE"], "months": 12}], user_id, name="Vecchio"
        )
        document = make_generic_document()
        user = db.session.get(User, user_id)
        with pytest.raises(campaign_svc.CampaignError) as info:
            campaign_svc.create_campaign(
                user,
                name="Prova",
                filter_id=stale.id,
                document_ids=[document.id],
                subject="Listino",
                body_html="<p>Ecco il listino.</p>",
                commercial=True,
                account_id=account.id,
                enqueue=False,
            )
        assert "NONCE" in info.value.errors["filter_id"]
        db.session.rollback()
        assert db.session.scalar(db.select(db.func.count(Campaign.id))) == 0


# ---------------------------------------------------------------- product picker


def _codes(page: str) -> list[str]:
    """Product codes offered by the picker's result list."""
    return re.findall(r'data-product-code="([^"]+)"', page)


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"q": "A1"}, ["A100"]),
        ({"q": "bull"}, ["A100"]),  # by description, any case
        ({"q": "VERNICE"}, ["B300"]),
        ({"q": "", "categoria": "FERR"}, ["A100", "A200"]),  # by category
        (
            {"q": "a", "categoria": "VERN"},
            [],
        ),  # both: B300 is a varnish but has no "a" in code or description
        ({"q": "%"}, []),  # LIKE wildcards are text
        ({"q": "_"}, []),
    ],
)
def test_picker_finds_products_by_code_description_and_category(
    app, client, auth, sales_world, args, expected
):
    """The htmx fragment lists the matching products (code, description, category) as buttons."""
    auth.login("giulia", roles=["sales"], clearance=3)
    if "categoria" in args:
        args = {**args, "categoria": sales_world[args["categoria"].lower()]}
    response = client.get(
        "/campagne/filtri/articoli",
        query_string={**args, "per": "c3-products"},
        headers={**HX, "HX-Target": "c3-products-picker"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page
    assert _codes(page) == expected
    if expected:
        assert 'data-product-target="c3-products"' in page and ("Ferramenta" in page or "Vernici" in page)
    else:
        assert "Nessun articolo" in page
    assert "HX-Request" in response.headers.get("Vary", "")


def test_picker_page_without_htmx_and_bounded_list(app, client, auth, sales_world):
    """Without htmx the same URL is a page with a search form; long lists say how many more there are."""
    from mailer.models import Product

    with app.app_context():
        db.session.add_all([Product(code=f"Z{n:03d}", description=f"Zappa {n}") for n in range(40)])
        db.session.commit()
    auth.login("giulia", roles=["sales"], clearance=3)
    page = client.get("/campagne/filtri/articoli", query_string={"q": "zappa"}).get_data(as_text=True)
    assert "<html" in page and 'name="q"' in page and 'value="zappa"' in page
    assert len(_codes(page)) == segments.PICKER_SIZE and "altri 20" in page
    bad = client.get("/campagne/filtri/articoli", query_string={"categoria": "x" * 30})
    assert bad.status_code == 200 and _codes(bad.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "roles, status", [(["operator"], 403), (["sales"], 200), (["manager"], 200), (["admin"], 200)]
)
def test_picker_roles(app, client, auth, sales_world, roles, status):
    """Who may build segments may use the picker; an office operator may not."""
    auth.login("utente", roles=roles, clearance=0)
    assert client.get("/campagne/filtri/articoli", query_string={"q": "A"}).status_code == status


def test_picker_needs_login(app, client, sales_world):
    """Anonymous callers go to the login page (htmx: 401)."""
    response = client.get("/campagne/filtri/articoli", query_string={"q": "A"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/campagne/filtri/articoli", headers=HX).status_code == 401


def test_picker_shows_no_customer_data(app, client, auth, sales_world):
    """The picker lists products only: no party, contact or sales figure reaches a low clearance user."""
    auth.login("giulia", roles=["sales"], clearance=0)
    page = client.get("/campagne/filtri/articoli", query_string={"q": "A100"}, headers=HX).get_data(
        as_text=True
    )
    assert _codes(page) == ["A100"]
    for secret in ("Alfa", "Gamma", "carla", "500", "@"):
        assert secret not in page


def test_picker_exact_code_first_and_count_capped(app, client, auth, sales_world, monkeypatch):
    """The product whose code is the text comes first (any case); past the count cap the page says «oltre»."""
    from mailer.models import Product

    with app.app_context():
        db.session.add_all(
            [
                Product(code="0A200", description="Dadi speciali"),
                *[Product(code=f"Z{n:03d}", description=f"Zappa {n}") for n in range(40)],
            ]
        )
        db.session.commit()
        assert [p.code for p in segments.search_products("a200").products] == ["A200", "0A200"]
    monkeypatch.setattr(segments.picker, "PICKER_COUNT_CAP", 30)
    auth.login("giulia", roles=["sales"], clearance=3)
    page = client.get("/campagne/filtri/articoli", query_string={"q": "zappa"}).get_data(as_text=True)
    assert len(_codes(page)) == segments.PICKER_SIZE and "e oltre 10" in page


@pytest.mark.parametrize(
    "form",
    [
        {"c0-type": "bought", "c0-products": "A1\x0000", "c0-period": "months", "c0-months": "12"},
        {"c0-type": "city", "c0-values": "Mil\x00ano"},
        {"c0-type": "doctype", "c0-codes": "FATT\x00URA"},
    ],
)
def test_nul_in_a_condition_is_a_field_error(app, client, auth, sales_world, form):
    """A NUL character in a condition's text is an error next to it (PostgreSQL refuses it in a query: no 500)."""
    auth.login("giulia", roles=["sales"], clearance=3)
    response = client.post("/campagne/filtri/conteggio", data=form, headers=HX)
    assert response.status_code == 200 and "non validi" in _error_slot(response.get_data(as_text=True), 0)


def test_picker_with_nul_or_huge_category(app, client, auth, sales_world):
    """Odd search input answers an empty list, never a server error (PostgreSQL included)."""
    auth.login("giulia", roles=["sales"], clearance=3)
    for args in (
        {"q": "A1\x00"},
        {"categoria": str(2**63)},
        {"q": "\x00", "categoria": "1"},
        {"categoria": "²"},
    ):
        response = client.get(
            "/campagne/filtri/articoli", query_string=args, headers={**HX, "HX-Target": "product-picker"}
        )
        assert response.status_code == 200 and _codes(response.get_data(as_text=True)) == []


def test_filter_list_marks_a_filter_that_no_longer_validates(app, client, auth, sales_world, make_user):
    """A stored filter naming a product that does not exist shows no count and «da correggere»; opening it
    shows the condition in red."""
    owner = make_user("giulia", roles=["sales"], clearance=3)
    with app.app_context():
        stale = make_filter(
            [{"type": "bought", "products": ["NONCE"], "months": 12}], owner, name="Vecchio"
        ).id
        make_filter([{"type": "kind", "value": "customer"}], owner, name="Buono")
    auth.login("giulia", create=False)
    page = client.get("/campagne/filtri").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><a[^>]*><strong>Vecchio</strong>.*?</tr>", page, re.S).group(0)
    assert "da correggere" in row and row.count("—") == 2
    good = re.search(r"<tr>\s*<td><a[^>]*><strong>Buono</strong>.*?</tr>", page, re.S).group(0)
    assert "da correggere" not in good
    page = client.get(f"/campagne/filtri/{stale}").get_data(as_text=True)
    assert "NONCE" in _error_slot(page, 0) and _stat(page) == ["—", "—"]
