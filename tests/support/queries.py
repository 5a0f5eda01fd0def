"""Counting the SQL a piece of code runs (query-count tests: pages and jobs that must not grow with the data)."""

from __future__ import annotations

from sqlalchemy import event


class QueryCounter:
    """Every SQL statement run on the engine while active: `count`, `statements`, `about(table)`."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)

    def _hit(self, _conn, _cursor, statement, *_args):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def about(self, text: str) -> list[str]:
        """The statements containing `text` (a table's name, a clause)."""
        return [s for s in self.statements if text in s]


def analyze(*tables: str) -> None:
    """On PostgreSQL, fresh statistics for these tables (plan tests: what autovacuum gives a real server);
    nothing on SQLite. In the app context."""
    from mailer.extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(db.text("ANALYZE " + ", ".join(tables)))
