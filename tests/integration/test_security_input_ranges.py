"""Ids beyond the columns, NUL characters and lone surrogates: refused with an Italian error, never a 500.

SQLite stores anything, so these were 500s on PostgreSQL only (an INTEGER column overflows at 2³¹, a
text cannot hold NUL, psycopg cannot encode a lone surrogate). Every GET route is walked with every
query parameter the code reads set to an out-of-range id, then to a text with NUL; the module runs on
both databases (`make test` repeats it on PostgreSQL).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.models import ApiToken
from tests.integration.test_security_routes import APP_FOR_MAP, url_for_rule

BEYOND_INTEGER = 2**31  # the first id an INTEGER column cannot hold
SOURCE = Path(__file__).resolve().parents[2] / "mailer"
# Every name the code reads from a query string or a form: the walk sets each of them.
PARAMS = sorted(
    {
        m
        for path in SOURCE.rglob("*.py")
        for m in re.findall(r"(?:args|values|form)\.(?:get|getlist)\(\"([a-z_0-9]+)\"", path.read_text())
    }
    - {"csrf_token"}
)
GET_RULES = sorted(
    (
        rule
        for rule in APP_FOR_MAP.url_map.iter_rules()
        if "GET" in rule.methods
        and rule.endpoint not in ("static", "auth.login")
        and not rule.endpoint.startswith("api.")
    ),
    key=lambda r: r.rule,
)
TOKEN = "rk_input_" + "e" * 32


@pytest.fixture(scope="module")
def admin(sec_world):
    """The administrator (highest clearance, every type): reaches every page."""
    return sec_world.login("w-admin")


@pytest.fixture(scope="module")
def api_token(module_app):
    """A token with every scope."""
    from mailer.api.routes import hash_token
    from mailer.extensions import db
    from mailer.models import API_SCOPES

    with module_app.app_context():
        db.session.add(
            ApiToken(
                name="input",
                token_hash=hash_token(TOKEN),
                prefix=TOKEN[:10],
                scopes=",".join(API_SCOPES),
                privacy_clearance=3,
            )
        )
        db.session.commit()
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_walk_reads_the_parameters():
    """The harvest found the filters the issue names (a broken regex would make the walk vacuous)."""
    assert {"zone", "agent", "category", "page", "pagina", "q", "preview_doc"} <= set(PARAMS)
    assert len(GET_RULES) > 40


@pytest.mark.parametrize(
    "rule",
    [
        r
        for r in GET_RULES
        if any(r._converters[a].__class__.__name__ == "IntegerConverter" for a in r.arguments)
    ],
    ids=lambda r: r.rule,
)
def test_ids_beyond_the_column_answer_404(sec_world, admin, rule):
    """/anagrafiche/2147483648 and every other id in a path: no route matches, 404."""
    url = _url_with_ints(rule, sec_world.ids, BEYOND_INTEGER)
    response = admin.get(url)
    assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.rule)
def test_out_of_range_numbers_in_filters_are_ignored_or_refused(sec_world, admin, rule):
    """?zone=2147483648 (and every other parameter): a 4xx or the page, never a 500."""
    url = url_for_rule(rule, sec_world.ids)
    for value in (str(BEYOND_INTEGER), str(2**63), "-" + str(BEYOND_INTEGER)):
        response = admin.get(url, query_string=dict.fromkeys(PARAMS, value))
        assert response.status_code != 500, (
            url,
            value,
            response.status_code,
        )  # /healthz answers 503 by design


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.rule)
def test_nul_in_a_query_is_a_field_error(sec_world, admin, rule):
    """?q=%00 anywhere: 400 with an Italian message naming the parameter."""
    url = url_for_rule(rule, sec_world.ids)
    response = admin.get(url + ("&" if "?" in url else "?") + "q=a%00b")
    if getattr(APP_FOR_MAP.view_functions[rule.endpoint], "_checks_own_text", False):
        assert response.status_code == 200, (url, response.status_code)  # the view answers with its own error
        return
    assert response.status_code == 400, (url, response.status_code)
    body = response.get_json()["error"] if response.is_json else response.get_data(as_text=True)
    assert "«q»" in body and "NUL" in body


def test_nul_in_a_form_is_a_field_error_and_nothing_is_written(sec_world, admin, module_app):
    """A contact named with NUL: 422 naming the field, no contact created."""
    from mailer.extensions import db
    from mailer.models import Contact

    with module_app.app_context():
        before = db.session.query(Contact).count()
    response = admin.post(
        f"/anagrafiche/{sec_world.ids['party']}/contacts",
        data={"name": "Mario\x00Rossi", "email": "mario.nul@example.com"},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "«name»" in body and "NUL" in body
    with module_app.app_context():
        assert db.session.query(Contact).count() == before


def test_htmx_gets_the_error_as_a_fragment(sec_world, admin):
    """An htmx request gets the fragment, not a whole page."""
    response = admin.get("/anagrafiche/?q=%00", headers={"HX-Request": "true"})
    assert response.status_code == 400 and "<html" not in response.get_data(as_text=True)


@pytest.mark.parametrize("bad,what", [("Cliente\x00Nul", "NUL"), ("Cliente \ud800 spezzato", "Unicode")])
def test_api_refuses_nul_and_lone_surrogates_with_the_field(module_app, api_token, bad, what):
    """JSON with NUL or a lone surrogate (valid JSON, not valid text): 422 naming the field, nothing stored."""
    from mailer.extensions import db
    from mailer.models import Party

    client = module_app.test_client()
    payload = '{"erp_code": "NUL1", "name": ' + __import__("json").dumps(bad) + ', "kind": "customer"}'
    response = client.post(
        "/api/v1/parties", data=payload, content_type="application/json", headers=api_token
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.is_json and "name" in response.get_json()["fields"] and what in str(response.get_json())
    with module_app.app_context():
        assert db.session.query(Party).filter_by(erp_code="NUL1").count() == 0


def test_api_ids_beyond_the_column_answer_404(module_app, api_token):
    """/api/v1/documents/2147483648 and /parties/…: 404 JSON."""
    client = module_app.test_client()
    for url in (f"/api/v1/documents/{BEYOND_INTEGER}", f"/api/v1/documents/{BEYOND_INTEGER}/pdf"):
        response = client.get(url, headers=api_token)
        assert response.status_code == 404 and response.is_json, (url, response.status_code)


def test_api_list_paging_beyond_the_range(module_app, api_token):
    """?offset=2**63 on a list: refused or empty, never a 500."""
    client = module_app.test_client()
    for query in ({"offset": str(2**63)}, {"limit": str(2**63)}, {"offset": "-5"}, {"q": "x\x00"}):
        response = client.get("/api/v1/documents", query_string=query, headers=api_token)
        assert response.status_code in (200, 400, 422), (query, response.status_code)


def _url_with_ints(rule, ids: dict, number: int) -> str:
    """The rule's URL as the route table builds it, with every integer variable set to `number`."""
    from flask import url_for

    from tests.integration.test_security_routes import LITERALS, OVERRIDES, VALUES

    values = {}
    for name in rule.arguments:
        if rule._converters[name].__class__.__name__ == "IntegerConverter":
            values[name] = number
        else:
            source = OVERRIDES.get(rule.endpoint, {}).get(name) or VALUES.get(name)
            values[name] = ids[source] if source else {**LITERALS, "code": "FATTURA"}[name]
    with APP_FOR_MAP.test_request_context():
        return url_for(rule.endpoint, **values)
