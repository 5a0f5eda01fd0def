"""Templates area: admin only (anonymous to the login form, other roles 403), CSRF on every change."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import EmailTemplate, TemplateVersion

PAGES = [
    ("get", "/modelli/"),
    ("get", "/modelli/FATTURA/it"),
    ("get", "/modelli/FATTURA/it/versioni/1"),
    ("get", "/modelli/firme"),
    ("post", "/modelli/FATTURA/it"),
    ("post", "/modelli/FATTURA/it/anteprima"),
    ("post", "/modelli/FATTURA/it/versioni/1/ripristina"),
    ("post", "/modelli/FATTURA/impostazioni"),
    ("post", "/modelli/firme/1"),
]
FORM = {"subject": "Fattura {{ documento.numero }}", "body_html": "<p>Testo nuovo</p>", "body_text": ""}


def version_count(app) -> int:
    """How many template versions exist."""
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(TemplateVersion.id)))


@pytest.mark.parametrize("method, url", PAGES)
def test_anonymous_goes_to_login(client, app, method, url):
    """Without a login every page and action redirects to the login form and changes nothing."""
    before = version_count(app)
    response = getattr(client, method)(url, data=FORM if method == "post" else None)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
    assert version_count(app) == before


@pytest.mark.parametrize("role", ["operator", "manager", "sales"])
@pytest.mark.parametrize("method, url", PAGES)
def test_non_admin_is_forbidden(client, auth, app, role, method, url):
    """Only administrators edit templates, sending settings and signatures."""
    auth.login(f"utente_{role}", roles=[role])
    before = version_count(app)
    response = getattr(client, method)(url, data=FORM if method == "post" else None)
    assert response.status_code == 403
    assert version_count(app) == before


def test_htmx_preview_without_login_answers_401(client):
    """An htmx preview after the session expired answers 401 with a redirect header."""
    response = client.post("/modelli/FATTURA/it/anteprima", data=FORM, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].endswith("/auth/login")


def test_admin_sees_the_list_and_nav_link(client, auth):
    """The nav links the area for admins; every type and language is listed."""
    auth.login("admin")
    page = client.get("/modelli/").get_data(as_text=True)
    assert 'href="/modelli/"' in page
    for code in ("DDT", "FATTURA", "INSOLUTO", "DICHIARAZIONE_INTENTO", "GENERICO"):
        assert f"/modelli/{code}/it" in page and f"/modelli/{code}/en" in page


@pytest.mark.parametrize(
    "url, data",
    [
        ("/modelli/FATTURA/it", FORM),
        ("/modelli/FATTURA/impostazioni", {"reply_to": "x@esempio.it", "language": "it"}),
        ("/modelli/FATTURA/it/versioni/1/ripristina", {}),
    ],
)
def test_changes_need_the_csrf_token(client, auth, app, url, data):
    """A save without the CSRF token is refused (400) and writes nothing."""
    auth.login("admin")
    before = version_count(app)
    response = client.post(url, data=data, csrf=False)
    assert response.status_code == 400
    assert version_count(app) == before
    with app.app_context():
        from mailer.models import DocumentType

        assert db.session.get(DocumentType, "FATTURA").reply_to == ""


@pytest.mark.parametrize(
    "url", ["/modelli/NONESISTE/it", "/modelli/FATTURA/de", "/modelli/FATTURA/it/versioni/99"]
)
def test_unknown_type_language_or_version_is_404(client, auth, url):
    """Unknown document type, language or version number: 404."""
    auth.login("admin")
    assert client.get(url).status_code == 404


def test_defaults_are_seeded_once(app_ctx):
    """Version 1 of 12 types × 2 languages exists after seeding; seeding again adds nothing."""
    from mailer.services.mail_templates import ensure_default_templates
    from mailer.services.reference import ensure_reference_data

    assert db.session.scalar(db.select(db.func.count(EmailTemplate.id))) == 24
    assert ensure_default_templates() == 0
    ensure_reference_data()
    assert db.session.scalar(db.select(db.func.count(TemplateVersion.id))) == 24
