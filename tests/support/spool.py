"""Spool folder fixture (registered in tests/conftest.py through pytest_plugins)."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from tests.support.documents import make_party


@pytest.fixture
def spool(app):
    """The spool folder of the test app (no minimum age), with party C0001."""
    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    with app.app_context():
        make_party("C0001")
        db.session.commit()
    return app.config["SPOOL_DIR"]
