"""The schema comes only from the migrations, and they match the models exactly (no drift)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from mailer import create_app
from mailer.extensions import db, include_in_migrations
from tests.conftest import _config_dict


def _drift(connection) -> list:
    """Differences between the database and the models, as alembic autogenerate sees them."""
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "render_as_batch": True, "include_object": include_in_migrations},
    )
    return compare_metadata(context, db.metadata)


def test_one_head(app_ctx):
    """The migrations form a single line (two areas branching off the same head would break upgrade)."""
    script = ScriptDirectory.from_config(_alembic_config(app_ctx.extensions["migrate"].directory))
    assert len(script.get_heads()) == 1, script.get_heads()


def _alembic_config(directory):
    """An alembic Config pointing at our migrations folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", directory)
    return config


def test_upgrade_empty_sqlite_and_no_drift(tmp_path):
    """An empty SQLite file upgraded to head has exactly the tables, columns and indexes of the models."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            assert {t.name for t in db.metadata.sorted_tables} <= tables
            assert _drift(connection) == []
        db.engine.dispose()


def test_test_database_has_no_drift(app_ctx):
    """The database the suite runs on (SQLite, or PostgreSQL with TEST_DATABASE_URL) matches the models."""
    with db.engine.connect() as connection:
        assert _drift(connection) == []


def test_downgrade_to_base_and_back(tmp_path):
    """Every migration can be undone and redone (a broken downgrade is found before it is needed)."""
    from flask_migrate import downgrade

    url = f"sqlite:///{tmp_path / 'updown.db'}"
    app = create_app({**_config_dict(), "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as connection:
            assert _drift(connection) == []
        db.engine.dispose()
