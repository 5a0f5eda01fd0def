"""Security headers and CSP on every page, session idle timeout and cookie flags, CSRF on every POST,
no spreadsheet formulas in exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from mailer.extensions import db
from tests.integration.test_security_routes import APP_FOR_MAP, RULE_METHODS, url_for_rule

GET_RULES = [(key, rule) for key, method, rule in RULE_METHODS if method == "GET"]
POST_RULES = [(key, method, rule) for key, method, rule in RULE_METHODS if method in ("POST", "PUT")]
# POSTs that need no CSRF token: the token API (no cookies) and the RFC 8058 one-click unsubscribe.
CSRF_EXEMPT = {"campaigns.unsubscribe"}
# Answers that carry their own, stricter CSP (sandboxed bodies, downloads, PDF viewer).
OWN_CSP = {
    "admin.captured_html",
    "admin.captured_attachment",
    "batches.body",
    "documents.pdf",
    "documents.version_pdf",
    "campaigns.version_file",
    "campaigns.version_page",
}


@pytest.fixture(scope="module")
def admin(sec_world):
    """An administrator at the highest clearance: reaches every page."""
    return sec_world.login("w-admin")


@pytest.mark.parametrize("key,rule", GET_RULES, ids=[r.rule for _k, r in GET_RULES])
def test_security_headers_on_every_page(sec_world, admin, key, rule):
    """nosniff, frame options, referrer policy and a CSP with no inline script on every answer."""
    url = url_for_rule(rule, sec_world.ids)
    client = admin if not key.startswith("api.") else sec_world.client()
    headers = {"Authorization": f"Bearer {sec_world.tokens['high']}"} if key.startswith("api.") else {}
    response = client.get(url, headers=headers)
    assert response.status_code < 500 or key == "main.healthz", url  # healthz: 503 without a worker
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    csp = response.headers["Content-Security-Policy"]
    directives = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
    if key in OWN_CSP:
        assert "script-src" not in csp or "'unsafe-inline'" not in directives.get("script-src", "")
        assert "sandbox" in directives or (
            "default-src" in directives and "'none'" in directives["default-src"]
        )
        return
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == "'self'"
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"script inline in {url}"
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html), f"gestore di evento inline in {url}"
        assert not re.search(r"\shx-on", html) and not re.search(r"<[a-z]+[^>]*\sstyle=", html), url
        assert response.headers.get("Cache-Control") == "no-store"


def test_session_cookie_flags(app, client, auth):
    """HttpOnly and SameSite=Lax always; Secure when SESSION_COOKIE_SECURE is on (HTTPS deployments)."""
    response = auth.login("admin")
    cookie = next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("recapito_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "remember_token" not in str(response.headers)
    app.config["SESSION_COOKIE_SECURE"] = True
    other = app.test_client()
    response = other.post("/auth/login", data={"username": "admin", "password": "password-di-prova"})
    cookie = next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("recapito_session=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize("htmx", [False, True])
def test_idle_session_is_logged_out(app, client, auth, htmx):
    """A session unused for SESSION_IDLE_MINUTES ends: login form (or 401 for htmx), and it stays ended."""
    auth.login("operator")
    assert client.get("/").status_code == 200
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session["seen"] = datetime.now(UTC).timestamp() - idle - 5
    response = client.get("/anagrafiche/", headers={"HX-Request": "true"} if htmx else {})
    if htmx:
        assert response.status_code == 401 and response.headers["HX-Redirect"].endswith("/auth/login")
    else:
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
        assert "Sessione scaduta per inattività" in client.get("/auth/login").get_data(as_text=True)
    again = client.get("/")
    assert again.status_code == 302 and again.headers["Location"].startswith("/auth/login")


def test_activity_keeps_the_session_alive(app, client, auth):
    """Within the idle time every request moves the deadline forward."""
    auth.login("operator")
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session["seen"] = datetime.now(UTC).timestamp() - idle + 30
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        assert session["seen"] > datetime.now(UTC).timestamp() - 5


def test_deactivated_or_password_reset_user_loses_open_sessions(app, client, auth, make_user):
    """Changing the password or deactivating a user ends their sessions everywhere."""
    from mailer.models import User
    from mailer.services.users import set_password

    auth.login("operator")
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "operator"))
        set_password(user, "nuova-password-lunga")
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize("key,method,rule", POST_RULES, ids=[f"{m} {r.rule}" for _k, m, r in POST_RULES])
def test_every_post_needs_a_csrf_token(sec_world, admin, key, method, rule):
    """Every state change without a token answers 400 before doing anything (the token API excepted)."""
    url = url_for_rule(rule, sec_world.ids)
    response = admin.open(url, method=method, data={"x": "1"}, csrf=False)
    if key.startswith("api."):
        assert response.status_code == 401  # no cookie session at all: bearer token only
        return
    if key in CSRF_EXEMPT:
        assert response.status_code in (200, 400)  # one-click needs no token; the page form still does
        return
    assert response.status_code == 400, (url, response.status_code)
    assert "Il modulo" in response.get_data(as_text=True)  # page, fragment or JSON (under /api/)
    forged = admin.open(
        url, method=method, data={"csrf_token": "falso"}, headers={"X-CSRFToken": "falso"}, csrf=False
    )
    assert forged.status_code == 400, url


def test_unsubscribe_page_post_needs_a_token_but_one_click_does_not(sec_world):
    """The unsubscribe page's own button needs the CSRF token; the RFC 8058 one-click POST works without cookies."""
    client = sec_world.client()
    url = f"/campagne/disiscrizione/{sec_world.ids['unsubscribe_token']}"
    assert client.post(url, data={}, csrf=False).status_code == 400
    one_click = client.post(url, data={"List-Unsubscribe": "One-Click"}, csrf=False)
    assert one_click.status_code == 200


def test_api_is_not_reachable_with_a_session_cookie(sec_world, admin):
    """The API ignores the browser session: a logged-in admin without a token gets 401 (no CSRF hole)."""
    response = admin.post("/api/v1/parties", json={"code": "X1", "name": "Da browser"}, csrf=False)
    assert response.status_code == 401


def test_batch_export_neutralises_formulas(app, client, auth):
    """Names and server answers in the results export cannot become spreadsheet formulas."""
    from tests.support.batches import make_account, make_sending_batch

    class Server:
        host, port = "127.0.0.1", 1

    with app.app_context():
        batch = make_sending_batch(make_account(Server()), ["formula@example.com"], status="done")
        from mailer.models import Delivery

        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
        delivery.status, delivery.smtp_reason = "failed", '=HYPERLINK("http://x";"clic")'
        delivery.recipient_name = "+SUM(1;2)"
        db.session.commit()
        batch_id = batch.id
    auth.login("admin")
    rows = list(
        csv.reader(
            io.StringIO(client.get(f"/invii/{batch_id}/esiti.csv").data.decode("utf-8-sig")), delimiter=";"
        )
    )
    assert rows[1][1] == "'+SUM(1;2)" and rows[1][8].startswith("'=HYPERLINK")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(client.get(f"/invii/{batch_id}/esiti.xlsx").data)).active
    values = list(next(sheet.iter_rows(min_row=2, values_only=True)))
    assert values[1] == "'+SUM(1;2)" and values[8].startswith("'=")


def test_login_redirect_stays_on_this_site(client, auth, make_user):
    """?next= cannot send the user to another site after login."""
    make_user("operatore")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = client.post(
            f"/auth/login?next={target}", data={"username": "operatore", "password": "password-di-prova"}
        )
        assert response.status_code == 302
        location = response.headers["Location"]
        assert "evil.example" not in location.split("/", 3)[2] if location.startswith("http") else True
        assert not location.startswith("//") and not location.startswith("javascript"), (target, location)
        client.post("/auth/logout")


def test_map_app_is_built_without_a_database():
    """The URL map used by these tests comes from the real app factory."""
    assert "auditlog.index" in APP_FOR_MAP.view_functions
