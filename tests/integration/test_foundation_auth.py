"""Login: wrong passwords, no user enumeration, throttling, production key check, healthz."""

from __future__ import annotations

import re

import pytest
from rq import Queue, Worker

from mailer import create_app
from mailer.extensions import db
from mailer.models import AuditEvent, LoginFailure
from tests.conftest import PASSWORD, _config_dict
from tests.support.services import free_port

GENERIC = "Nome utente o password non corretti."


def _login(client, username, password):
    return client.post("/auth/login", data={"username": username, "password": password})


def test_wrong_password_and_unknown_user_look_the_same(client, make_user):
    """Unknown user and wrong password: same status, same message (no user enumeration)."""
    make_user("mario")
    wrong = _login(client, "mario", "sbagliata-123")
    unknown = _login(client, "nessuno", "sbagliata-123")
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC in wrong.get_data(as_text=True) and GENERIC in unknown.get_data(as_text=True)

    # The pages differ only by the typed name and by the CSRF token (signed with the current second).
    def page(response, name):
        return re.sub(
            r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"',
            r'\1=""',
            response.get_data(as_text=True).replace(name, "X"),
        )

    assert page(wrong, "mario") == page(unknown, "nessuno")


def test_right_password_logs_in_and_logout_needs_post(client, make_user):
    """The right password leads to the dashboard; logout is a POST."""
    make_user("mario")
    response = _login(client, "MARIO ", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(app, client, make_user):
    """A deactivated user gets the generic message."""
    user_id = make_user("mario")
    with app.app_context():
        from mailer.models import User

        db.session.get(User, user_id).active = False
        db.session.commit()
    response = _login(client, "mario", PASSWORD)
    assert response.status_code == 401 and GENERIC in response.get_data(as_text=True)


def test_throttling_after_max_failures(app, client, make_user):
    """After LOGIN_MAX_FAILURES wrong passwords even the right one is refused for a while."""
    make_user("mario")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert _login(client, "mario", "sbagliata-123").status_code == 401
    blocked = _login(client, "mario", PASSWORD)
    assert blocked.status_code == 401
    assert "Troppi tentativi" in blocked.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(LoginFailure.id))) == limit
        actions = [a for (a,) in db.session.execute(db.select(AuditEvent.action))]
        assert "login.throttled" in actions and actions.count("login.failed") == limit


def test_throttling_also_for_unknown_users(app, client):
    """Guessing user names is throttled the same way."""
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _login(client, "ghost", "x")
    assert "Troppi tentativi" in _login(client, "ghost", "x").get_data(as_text=True)


def test_safe_next_redirect(client, make_user):
    """?next= only redirects to paths on this site."""
    make_user("mario")
    response = client.post(
        "/auth/login?next=https://evil.example.com/", data={"username": "mario", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("key", ["", "dev", "change-me", "dev-insecure-key", "short-key"])
def test_production_refuses_weak_secret_key(key):
    """RECAPITO_ENV=production with a guessable SECRET_KEY does not start, and says why."""
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            {
                **_config_dict(),
                "ENV_NAME": "production",
                "SECRET_KEY": key,
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
            }
        )


def test_production_starts_with_strong_secret_key():
    """A random 64-character key is accepted."""
    app = create_app(
        {
            **_config_dict(),
            "ENV_NAME": "production",
            "SECRET_KEY": "a1" * 32,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
        }
    )
    assert app.config["SESSION_COOKIE_HTTPONLY"]


@pytest.mark.parametrize("key", ["troppo-corta", "x" * 44, "a1" * 32])
def test_malformed_credentials_key_refused_at_start(key):
    """A CREDENTIALS_KEY that is not a Fernet key stops the start, with the command that makes a good one."""
    with pytest.raises(RuntimeError, match="CREDENTIALS_KEY non è una chiave valida"):
        create_app({**_config_dict(), "CREDENTIALS_KEY": key, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_valid_credentials_key_encrypts_with_it():
    """A generated key is accepted and is the one used: another key cannot read what it wrote."""
    from cryptography.fernet import Fernet

    from mailer.services.crypto import decrypt_secret, encrypt_secret

    key = Fernet.generate_key().decode()
    app = create_app({**_config_dict(), "CREDENTIALS_KEY": key, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        token = encrypt_secret("segreta")
    assert Fernet(key.encode()).decrypt(token.encode()) == b"segreta"
    other = create_app(
        {
            **_config_dict(),
            "CREDENTIALS_KEY": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
        }
    )
    with other.app_context(), pytest.raises(ValueError, match="non si può decifrare"):
        decrypt_secret(token)


def test_healthz_503_without_worker(client):
    """Database and Redis fine, but no worker registered: 503."""
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"] == {"ok": False, "count": 0}
    assert body["status"] == "degraded"


def test_healthz_200_with_worker(app, client):
    """A worker registered in Redis makes healthz 200."""
    with app.app_context():
        from mailer.queue import get_redis

        redis = get_redis()
        worker = Worker(
            [Queue(app.config["RQ_QUEUE"], connection=redis)], connection=redis, name="test-worker"
        )
        worker.register_birth()
    try:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {
            "database": {"ok": True},
            "redis": {"ok": True},
            "workers": {"ok": True, "count": 1},
            "status": "ok",
        }
    finally:
        worker.register_death()


def test_healthz_503_when_redis_is_down(app, client):
    """Redis not answering: 503, and the report says which part failed."""
    real_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    try:
        response = client.get("/healthz")
    finally:
        app.config["REDIS_URL"] = real_url  # the fixture flushes the real one afterwards
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is False and body["workers"]["ok"] is False
