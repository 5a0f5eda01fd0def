"""Fixtures: app with a fresh migrated database per test, private Redis, logged-in clients.

The schema is migrated once per session (per xdist worker) into a template with the reference data;
each test gets a copy (SQLite) or the database put back as the template was (PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailer import create_app
from mailer.config import TestConfig
from mailer.extensions import db as _db
from mailer.queue import get_redis
from tests.support import fast_routes
from tests.support.client import CsrfClient
from tests.support.services import (
    PostgresSnapshot,
    PrivateRedis,
    create_postgres_database,
    drop_postgres_database,
)

# Area fixtures live in tests/support/<area>.py and are registered here once, so a test module
# asks for them by name instead of importing them (an import shadowed by the argument).
# Modules other plugins import come first, so pytest imports them itself and rewrites their asserts.
pytest_plugins = [
    "tests.support.smtp",
    "tests.support.faults",
    "tests.support.api_batches",
    "tests.support.browser",
    "tests.support.campaigns",
    "tests.support.contacts",
    "tests.support.documents",
    "tests.support.imap",
    "tests.support.oauth",
    "tests.support.preferences",
    "tests.support.resilience",
    "tests.support.security",
    "tests.support.a11y",  # after campaigns, which it imports
    "tests.support.spool",
    "tests.support.tls",
    "tests.support.webhooks",
]

fast_routes.install()  # every test builds an app: compile each URL builder once per process

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
SAMPLES = Path(os.environ.get("RECAPITO_SAMPLES", SAMPLES))
PG_BASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_configure(config):
    """Register markers."""
    config.addinivalue_line("markers", "browser: drives a real browser against a live server")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line(
        "markers",
        "serial: cannot share the machine with other tests; scripts/test.sh runs it after the parallel pass",
    )


@pytest.fixture(scope="session")
def session_tmp():
    """A temporary directory for the whole session."""
    path = tempfile.mkdtemp(prefix="recapito-test-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(session_tmp):
    """A private redis-server for this test session."""
    server = PrivateRedis(str(session_tmp)).start()
    yield server
    server.stop()


def _migrate(url: str, instance: Path) -> None:
    """Build the schema with the migrations, as production does, and add the reference data every test
    app starts with (ensure_reference_data: once here rather than in every test)."""
    from flask_migrate import upgrade

    from mailer.services.reference import ensure_reference_data

    app = create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance)})
    with app.app_context():
        upgrade()
        ensure_reference_data()
        if url.startswith("sqlite"):
            # The template is copied file by file: everything must be in the main file, not in a WAL.
            with _db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        types = _db.session.scalar(sa.text("SELECT count(*) FROM document_types"))
        assert types == 12, f"the migrated template has {types} document types"
        _db.session.remove()
        _db.engine.dispose()


def _config_dict() -> dict:
    """TestConfig as a dict."""
    return {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}


@pytest.fixture(scope="session")
def database_template(session_tmp):
    """A migrated database: a SQLite file to copy per test, or a PostgreSQL database put back after each
    test from its snapshot."""
    if PG_BASE_URL:
        url = create_postgres_database(PG_BASE_URL)
        _migrate(url, session_tmp)
        snapshot = PostgresSnapshot(url, [t.name for t in _db.metadata.sorted_tables]).take()
        yield {"kind": "postgresql", "url": url, "snapshot": snapshot}
        snapshot.dispose()
        drop_postgres_database(PG_BASE_URL, url)
    else:
        path = session_tmp / "template.db"
        _migrate(f"sqlite:///{path}", session_tmp)
        yield {"kind": "sqlite", "path": path}


def build_test_app(url: str, redis_url: str, tmp: Path, reference_data: bool = True):
    """An application on `url` with its instance, capture and spool folders in `tmp`, an empty Redis
    database and the reference data (unless `reference_data=False`: a copy of the template has them);
    the CSRF-sending test client."""
    config = {
        **_config_dict(),
        "SQLALCHEMY_DATABASE_URI": url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(tmp / "instance"),
        "CAPTURE_DIR": str(tmp / "captured"),
        "SPOOL_DIR": str(tmp / "spool"),
    }
    os.environ["INSTANCE_PATH"] = str(tmp / "instance")
    application = create_app(config)
    application.test_client_class = CsrfClient
    from mailer.services.reference import ensure_reference_data

    with application.app_context():
        get_redis().flushdb()
        if reference_data:
            ensure_reference_data()
    return application


@pytest.fixture
def app(database_template, redis_server, tmp_path):
    """The application with a fresh migrated database and an empty Redis."""
    if database_template["kind"] == "sqlite":
        db_path = tmp_path / "test.db"
        shutil.copy(database_template["path"], db_path)
        url = f"sqlite:///{db_path}"
    else:
        url = database_template["url"]
    application = build_test_app(url, redis_server.url, tmp_path, reference_data=False)
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()
        if database_template["kind"] == "postgresql":
            database_template["snapshot"].restore()
        get_redis().flushdb()
    os.environ.pop("INSTANCE_PATH", None)


@pytest.fixture
def app_ctx(app):
    """An application context for service-level tests."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    """A test client that sends CSRF tokens."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


ALL_TYPES = [
    "DDT",
    "FATTURA",
    "NOTA_CREDITO",
    "OFFERTA",
    "ORDINE_CLIENTE",
    "ORDINE_FORNITORE",
    "ENTRATA_MERCE",
    "ESTRATTO_CONTO",
    "AVVISO_BONIFICO",
    "INSOLUTO",
    "DICHIARAZIONE_INTENTO",
    "GENERICO",
]
PASSWORD = "password-di-prova"


@pytest.fixture
def make_user(app):
    """Factory: make_user('mario', roles=['operator'], clearance=1, send_types=[...])."""

    def factory(username: str, roles=("operator",), clearance: int = 1, send_types=None, password=PASSWORD):
        from mailer.services.users import create_user

        with app.app_context():
            user = create_user(
                username,
                password,
                full_name=username.title(),
                roles=list(roles),
                clearance=clearance,
                send_types=list(ALL_TYPES if send_types is None else send_types),
            )
            _db.session.commit()
            return user.id

    return factory


class AuthActions:
    """Log in and out through the real login form."""

    def __init__(self, client, make_user):
        self._client = client
        self._make_user = make_user

    def login(
        self, username: str = "admin", roles=None, clearance: int = 3, send_types=None, create: bool = True
    ):
        """Create (unless create=False) and log in a user; roles default to the username when it is a role."""
        if create:
            if roles is None:
                roles = [username] if username in ("admin", "manager", "operator", "sales") else ["operator"]
            self._make_user(username, roles=roles, clearance=clearance, send_types=send_types)
        response = self._client.post("/auth/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def logout(self):
        """Log out."""
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client, make_user):
    """Login helper bound to `client`."""
    return AuthActions(client, make_user)


@pytest.fixture
def samples_dir():
    """The shared sample files; tests that need them skip when the folder is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"cartella dei campioni assente ({SAMPLES}): i test sui file reali non possono girare")
    return SAMPLES
