"""Issue 14.8: logging out ends the session on the server, not only in the browser that logged out.

A copy of the session cookie taken before logging out (another tab's, a proxy's log, a stolen one) must
not work afterwards; other browsers of the same user keep their own sessions; a password change ends
them all.
"""

from __future__ import annotations

from mailer.extensions import db
from mailer.models import User
from mailer.models.user import UserSession
from tests.conftest import PASSWORD

COOKIE = "recapito_session"


def _browser(app):
    """A fresh browser (its own cookie jar)."""
    return app.test_client()


def _login(client, username="mario"):
    """Log in through the form."""
    response = client.post("/auth/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def _replay(app, cookie_value):
    """GET the dashboard with nothing but a copied session cookie."""
    thief = _browser(app)
    thief.set_cookie(COOKIE, cookie_value)
    return thief.get("/")


def test_old_cookie_refused_after_logout(app, client, make_user):
    """The cookie copied before logout leads to the login form afterwards."""
    make_user("mario")
    _login(client)
    copied = client.get_cookie(COOKIE).value
    assert _replay(app, copied).status_code == 200  # the copy works while the session is open
    assert client.post("/auth/logout").status_code == 302
    replayed = _replay(app, copied)
    assert replayed.status_code == 302 and "/auth/login" in replayed.headers["Location"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(UserSession.id))) == 0


def test_logout_ends_only_that_session(app, make_user):
    """Logging out at one desk leaves the same user's other browser logged in."""
    make_user("mario")
    desk, laptop = _browser(app), _browser(app)
    _login(desk)
    _login(laptop)
    assert desk.post("/auth/logout").status_code == 302
    assert desk.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_password_change_logs_out_everywhere(app, make_user):
    """A new password ends every open session of that user (each browser, each copied cookie)."""
    user_id = make_user("mario")
    make_user("capo", roles=["admin"])
    desk, laptop, admin = _browser(app), _browser(app), _browser(app)
    _login(desk)
    _login(laptop)
    copied = desk.get_cookie(COOKIE).value
    _login(admin, "capo")
    new = "una-password-nuova-123"
    response = admin.post(f"/admin/users/{user_id}/password", data={"password": new, "password2": new})
    assert response.status_code == 302
    for browser in (desk, laptop):
        assert browser.get("/").status_code == 302
    assert _replay(app, copied).status_code == 302
    assert admin.get("/").status_code == 200  # the administrator's own session is untouched
    with app.app_context():
        assert (
            db.session.scalar(db.select(db.func.count(UserSession.id)).where(UserSession.user_id == user_id))
            == 0
        )
        assert db.session.get(User, user_id).session_version == 2


def test_session_expired_by_idle_time_cannot_be_revived(app, client, make_user):
    """The idle timeout ends the server's session too: the cookie from before is refused."""
    make_user("mario")
    _login(client)
    assert client.get("/").status_code == 200
    copied = client.get_cookie(COOKIE).value
    with client.session_transaction() as session:
        session["seen"] = session["seen"] - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
    assert client.get("/").status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(UserSession.id))) == 0
    assert _replay(app, copied).status_code == 302
