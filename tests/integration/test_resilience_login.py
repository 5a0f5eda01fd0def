"""Issue 14.7: login throttling slows guessing per (account, address) with growing delays, never locks
the office out, trusts X-Forwarded-For only behind a configured proxy, and logs what it does."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from mailer import create_app
from mailer.extensions import db
from mailer.models import AuditEvent, LoginFailure
from mailer.services.users import login_delay
from tests.conftest import PASSWORD, _config_dict
from tests.support.client import CsrfClient

OFFICE = "192.0.2.10"  # the office's one public address (NAT)
ELSEWHERE = "198.51.100.7"


def _attempt(client, username, password, ip=OFFICE, headers=None):
    """One login attempt from `ip`."""
    return client.post(
        "/auth/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers or {},
    )


def _wait_asked(response) -> int | None:
    """The seconds the refusal asks to wait, or None when it is not a throttling refusal."""
    found = re.search(r"Troppi tentativi[^<]*?riprova tra (\d+) second", response.get_data(as_text=True))
    return int(found.group(1)) if found else None


def _age_failures(app, seconds: float) -> None:
    """Move every recorded failure `seconds` into the past (time passing, without sleeping)."""
    with app.app_context():
        for failure in db.session.scalars(db.select(LoginFailure)):
            failure.at = failure.at - timedelta(seconds=seconds)
        db.session.commit()


def test_colleague_hammering_does_not_lock_out_the_admin(app, client, make_user):
    """A colleague's 40 bad passwords (his own account, the admin's from elsewhere, names that do not
    exist) from the office address: the administrator, same address, still logs in at once."""
    app.config["LOGIN_ADDRESS_FAILURES"] = 20  # the colleague goes past the address limit too
    make_user("mario")
    make_user("admin", roles=["admin"])
    for _ in range(15):
        assert _attempt(client, "mario", "sbagliata-123").status_code == 401
    for name in [f"utente{i}" for i in range(20)]:
        assert _attempt(client, name, "sbagliata-123").status_code == 401
    for _ in range(8):  # someone guessing the admin's password from another address
        assert _attempt(client, "admin", "sbagliata-123", ip=ELSEWHERE).status_code == 401
    response = _attempt(client, "admin", PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    assert client.get("/").status_code == 200


def test_delays_grow_and_are_capped(app, client, make_user):
    """After LOGIN_MAX_FAILURES failures each further try waits twice as long, up to the cap; once the
    wait is over, the right password works (no hard lock)."""
    app.config.update(LOGIN_FIRST_DELAY_SECONDS=10, LOGIN_MAX_DELAY_SECONDS=160)
    make_user("mario")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _wait_asked(_attempt(client, "mario", "sbagliata-123")) is None
    waits = []
    for _ in range(7):
        refused = _attempt(client, "mario", PASSWORD)  # even the right password waits its turn
        assert refused.status_code == 401 and refused.headers["Retry-After"] == str(_wait_asked(refused))
        waits.append(_wait_asked(refused))
        _age_failures(app, waits[-1] + 1)
        assert _attempt(client, "mario", "sbagliata-123").status_code == 401  # recorded: the next wait grows
    # Each wait counts from the last failure: a second or two may pass before the next try on a busy machine.
    expected = [10, 20, 40, 80, 160, 160, 160]
    assert all(want - 2 <= got <= want for got, want in zip(waits, expected, strict=False)), waits
    _age_failures(app, 161)
    assert _attempt(client, "mario", PASSWORD).status_code == 302
    with app.app_context():  # a successful login forgets that account's failures from that address
        assert (
            db.session.scalar(
                db.select(db.func.count(LoginFailure.id)).where(LoginFailure.username == "mario")
            )
            == 0
        )


def test_throttling_is_per_address(app, client, make_user):
    """The same account, tried from another address, is not slowed by the first address's failures."""
    make_user("mario")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1):
        _attempt(client, "mario", "sbagliata-123", ip=ELSEWHERE)
    assert _wait_asked(_attempt(client, "mario", PASSWORD, ip=ELSEWHERE)) is not None
    assert _attempt(client, "mario", PASSWORD).status_code == 302


def test_address_limit_slows_a_spray_but_not_correct_logins(app, client, make_user):
    """Past LOGIN_ADDRESS_FAILURES failures from one address, an account with a failure from there waits
    after its first one; an account without failures there still logs in."""
    app.config.update(LOGIN_ADDRESS_FAILURES=12, LOGIN_FIRST_DELAY_SECONDS=60)
    make_user("anna")
    for i in range(12):
        assert _wait_asked(_attempt(client, f"nome{i}", "sbagliata-123")) is None
    assert _wait_asked(_attempt(client, "nome0", "altra-prova")) is not None  # 1 failure: waits now
    assert _attempt(client, "anna", PASSWORD).status_code == 302


def test_x_forwarded_for_ignored_unless_configured(app, make_user):
    """Without PROXY_FIX_X_FOR a forged X-Forwarded-For changes nothing; with it the proxy's header is the
    client's address (and throttling follows it)."""
    make_user("mario")
    client = app.test_client()
    for i in range(app.config["LOGIN_MAX_FAILURES"]):
        _attempt(client, "mario", "sbagliata-123", headers={"X-Forwarded-For": f"203.0.113.{i}"})
    assert (
        _wait_asked(_attempt(client, "mario", PASSWORD, headers={"X-Forwarded-For": "203.0.113.99"}))
        is not None
    )
    with app.app_context():
        assert set(db.session.scalars(db.select(LoginFailure.ip))) == {OFFICE}
        db.session.execute(db.delete(LoginFailure))
        db.session.commit()

    proxied = create_app(
        {
            **_config_dict(),
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "PROXY_FIX_X_FOR": 1,
        }
    )
    proxied.test_client_class = CsrfClient
    behind = proxied.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _attempt(behind, "mario", "sbagliata-123", headers={"X-Forwarded-For": "203.0.113.5"})
    assert (
        _wait_asked(_attempt(behind, "mario", PASSWORD, headers={"X-Forwarded-For": "203.0.113.5"}))
        is not None
    )
    assert _attempt(behind, "mario", PASSWORD, headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 302
    with proxied.app_context():
        assert set(db.session.scalars(db.select(LoginFailure.ip))) == {"203.0.113.5"}
        db.session.remove()
        db.engine.dispose()


def test_throttling_is_audited_and_logged_without_passwords(app, client, make_user, caplog):
    """Failures and refusals are in the audit log and the application log, with account and address,
    never the password typed."""
    make_user("mario")
    caplog.set_level(logging.INFO, logger=app.logger.name)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _attempt(client, "mario", "segreto-digitato-1")
    _attempt(client, "mario", "segreto-digitato-2")
    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.like("login.%"))).all()
        actions = [e.action for e in events]
        assert actions.count("login.failed") == app.config["LOGIN_MAX_FAILURES"]
        throttled = next(e for e in events if e.action == "login.throttled")
        assert (
            throttled.username == "mario"
            and throttled.ip == OFFICE
            and throttled.details["wait_seconds"] >= 1
        )
        assert all("segreto" not in str(e.details) for e in events)
    lines = [r.getMessage() for r in caplog.records]
    assert any("mario" in line and OFFICE in line and "failed" in line for line in lines), lines
    assert any("mario" in line and OFFICE in line and "throttled" in line for line in lines), lines
    assert not any("segreto" in line for line in lines)


@pytest.mark.parametrize(
    "account,address,expected",
    [
        (0, 0, 0),
        (4, 4, 0),
        (5, 5, 1),
        (6, 6, 2),
        (9, 9, 16),
        (30, 30, 300),  # per account: 2^(k-5), capped
        (1, 50, 1),
        (2, 51, 2),
        (0, 80, 0),  # past the address limit: from the first failure; none: no wait
    ],
)
def test_login_delay_rule(account, address, expected):
    """The rule itself: failures of the account from the address, failures of the address."""
    assert login_delay(account, address, max_failures=5, address_limit=50, first=1, cap=300) == expected
