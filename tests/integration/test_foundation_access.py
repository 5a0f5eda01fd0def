"""Login gate, roles and CSRF, checked over the whole URL map."""

from __future__ import annotations

import pytest

from mailer import create_app
from mailer.security import PUBLIC_BLUEPRINTS, PUBLIC_ENDPOINTS
from tests.conftest import _config_dict

# Endpoints meant to be reachable without logging in (later areas add theirs with public_endpoint).
EXPECTED_PUBLIC = {"auth.login", "static", "main.healthz"}


def _map_app():
    """An app used only to read the URL map at collection time (no database access)."""
    return create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})


_APP = _map_app()


def _is_public(endpoint: str) -> bool:
    """Declared public: listed, decorated with public_endpoint, or in a token-authenticated blueprint."""
    view = _APP.view_functions.get(endpoint)
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else ""
    return endpoint in PUBLIC_ENDPOINTS or blueprint in PUBLIC_BLUEPRINTS or getattr(view, "_public", False)


def _url(rule) -> str:
    """A URL for a rule, with placeholder values for its arguments."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        values[name] = 1 if converter in ("IntegerConverter", "FloatConverter") else "x"
    with _APP.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


RULES = sorted(_APP.url_map.iter_rules(), key=lambda r: r.rule)
PRIVATE = [r for r in RULES if not _is_public(r.endpoint)]
ADMIN_PAGES = [r for r in RULES if r.endpoint.startswith("admin.") and "GET" in r.methods and not r.arguments]


def test_public_endpoints_are_the_expected_ones():
    """Nothing becomes public by accident: every public endpoint is declared as such."""
    public = {r.endpoint for r in RULES if _is_public(r.endpoint)}
    declared = {
        e
        for e in public
        if e in EXPECTED_PUBLIC
        or getattr(_APP.view_functions.get(e), "_public", False)
        or e.rsplit(".", 1)[0] in PUBLIC_BLUEPRINTS
    }
    assert public == declared
    assert public >= EXPECTED_PUBLIC


@pytest.mark.parametrize(
    "rule", PRIVATE, ids=lambda r: f"{sorted(r.methods - {'HEAD', 'OPTIONS'})[0]} {r.rule}"
)
def test_every_private_route_needs_login(client, rule):
    """Anonymous requests to a private route go to the login form (or get 401 for htmx)."""
    method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
    url = _url(rule)
    response = client.open(url, method=method)
    assert response.status_code == 302, (url, response.status_code)
    assert "/auth/login" in response.headers["Location"]
    htmx = client.open(url, method=method, headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers.get("HX-Redirect", "").endswith("/auth/login")


def test_public_routes_answer_without_login(client):
    """Login and healthz answer anonymous users (healthz says 503 here: no worker runs)."""
    assert client.get("/auth/login").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/static/css/recapito.css").status_code == 200


@pytest.mark.parametrize("role", ["manager", "operator", "sales"])
@pytest.mark.parametrize("rule", ADMIN_PAGES, ids=lambda r: r.rule)
def test_admin_pages_forbidden_to_other_roles(client, auth, role, rule):
    """Only administrators open the admin pages."""
    auth.login(f"utente-{role}", roles=[role])
    assert client.get(_url(rule)).status_code == 403


@pytest.mark.parametrize("rule", ADMIN_PAGES, ids=lambda r: r.rule)
def test_admin_pages_open_for_admin_and_redirect_anonymous(client, auth, rule):
    """Anonymous → login form; admin → the page."""
    anonymous = client.get(_url(rule))
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    auth.login("admin")
    response = client.get(_url(rule))
    # no logo uploaded yet; no Microsoft authorisation pending (back to the accounts with a message)
    expected = {"admin.company_logo": 404, "admin.account_oauth_callback": 302}.get(rule.endpoint, 200)
    assert response.status_code == expected, response.status_code
    assert response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("role", ["manager", "operator", "sales"])
@pytest.mark.parametrize(
    "url", ["/admin/users/new", "/admin/company", "/admin/accounts/new", "/admin/captured/clear"]
)
def test_admin_posts_forbidden_to_other_roles(client, auth, role, url):
    """State changes in the admin area are refused to other roles too."""
    auth.login(f"utente-{role}", roles=[role])
    assert client.post(url, data={"name": "x"}).status_code == 403


@pytest.mark.parametrize("url", ["/auth/login", "/auth/logout", "/admin/company", "/admin/users/new"])
def test_csrf_token_required(client, auth, url):
    """A state change without a CSRF token is rejected with 400."""
    auth.login("admin")
    response = client.post(url, data={"username": "admin", "password": "x", "name": "Nuova"}, csrf=False)
    assert response.status_code == 400
    assert "Richiesta non valida" in response.get_data(as_text=True)


def test_security_headers(client, auth):
    """CSP without inline script/style, nosniff, frame options, no-store for logged-in pages."""
    auth.login("admin")
    response = client.get("/admin/users")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = client.get_cookie("recapito_session")
    assert cookie is not None and cookie.http_only
