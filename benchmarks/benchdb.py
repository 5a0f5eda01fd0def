"""The database a benchmark runs on: BENCH_DATABASE_URL (PostgreSQL) when set, else a SQLite file.

Benchmarks that build their data once and reuse it (contacts, batch_list, segments) use the URL as it is;
those that need an empty database every run (render, scaleout) get a scratch database created next to it
on the same server and dropped at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def database_url(sqlite_path: str | Path) -> str:
    """BENCH_DATABASE_URL, or the SQLite file at sqlite_path."""
    return os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{sqlite_path}"


def kind(url: str) -> str:
    """'PostgreSQL' or 'SQLite', for the printed figures."""
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def local_postgres_answers() -> bool:
    """Whether the local test server (LOCAL_POSTGRES) accepts a connection."""
    import sqlalchemy as sa

    engine = sa.create_engine(LOCAL_POSTGRES, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextmanager
def scratch_database(sqlite_path: str | Path, prefer_postgres: bool = False) -> Iterator[str]:
    """A fresh, empty database for one run: next to BENCH_DATABASE_URL (or, with prefer_postgres, on the
    local PostgreSQL when it answers), dropped afterwards; otherwise the SQLite file at sqlite_path."""
    from tests.support.services import create_postgres_database, drop_postgres_database

    base = os.environ.get("BENCH_DATABASE_URL") or (
        LOCAL_POSTGRES if prefer_postgres and local_postgres_answers() else ""
    )
    if not base:
        yield f"sqlite:///{sqlite_path}"
        return
    url = create_postgres_database(base)
    try:
        yield url
    finally:
        drop_postgres_database(base, url)


class BulkLoader:
    """Fast inserts of a benchmark's synthetic rows: COPY through psycopg on PostgreSQL, multi-row Core
    INSERTs of 20,000 rows on SQLite.

    On PostgreSQL, `defer_indexes(tables)` drops the secondary indexes of the big tables first and `finish()`
    recreates them from their own definitions (pg_indexes), so the database ends exactly as migrated.
    """

    CHUNK = 20_000

    def __init__(self, conn) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.deferred: list[str] = []
        # The rows are consistent by construction: skip the per-row foreign-key triggers (superuser only).
        self.replica = self.postgres and bool(
            conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
        )
        if self.replica:
            conn.exec_driver_sql("SET session_replication_role = replica")

    def defer_indexes(self, *tables: str) -> None:
        """PostgreSQL: drop the non-unique indexes of `tables` until finish() (no-op on SQLite)."""
        if not self.postgres:
            return
        rows = self.conn.exec_driver_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
            "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = current_schema() "
            "AND i.tablename = ANY(%(t)s) AND NOT x.indisunique",
            {"t": list(tables)},
        ).all()
        for name, definition in rows:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
            self.deferred.append(definition)

    def insert(self, table, rows: list[dict]) -> None:
        """Insert `rows` (dicts with the same keys) into the Core `table`."""
        if not rows:
            return
        if not self.postgres:
            for start in range(0, len(rows), self.CHUNK):
                self.conn.execute(table.insert(), rows[start : start + self.CHUNK])
            return
        import json

        columns = list(rows[0])
        # What a Core INSERT would add: the Python-side defaults of the columns the rows leave out.
        defaults = {}
        for column in table.columns:
            default = column.default
            if column.name in columns or default is None or getattr(default, "is_sequence", False):
                continue
            if default.is_scalar:
                defaults[column.name] = default.arg
            elif default.is_callable:
                defaults[column.name] = default.arg(None)
        if defaults:
            columns += list(defaults)
            rows = [{**row, **defaults} for row in rows]
        names = ", ".join(f'"{c}"' for c in columns)
        cursor = self.conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(
                    [json.dumps(v) if isinstance(v, list | dict) else v for v in (row[c] for c in columns)]
                )

    def finish(self) -> None:
        """PostgreSQL: recreate the deferred indexes and move the id sequences past the rows. Commit, then
        call vacuum()."""
        if self.replica:
            self.conn.exec_driver_sql("SET session_replication_role = DEFAULT")
        if self.postgres:
            for definition in self.deferred:
                self.conn.exec_driver_sql(definition)
            self.deferred = []
            for table, column, sequence in self.conn.exec_driver_sql(
                "SELECT c.table_name, c.column_name, pg_get_serial_sequence(c.table_name, c.column_name) "
                "FROM information_schema.columns c WHERE c.table_schema = current_schema() "
                "AND c.column_name = 'id' AND pg_get_serial_sequence(c.table_name, c.column_name) IS NOT NULL"
            ).all():
                self.conn.exec_driver_sql(
                    f"SELECT setval('{sequence}', GREATEST(1, (SELECT COALESCE(MAX(\"{column}\"), 0) "
                    f'FROM "{table}")))'
                )

    def vacuum(self) -> None:
        """After the commit: VACUUM (ANALYZE) on PostgreSQL, as autovacuum would do in a while (without the
        visibility map the covering indexes cannot answer alone); ANALYZE on SQLite."""
        engine = self.conn.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)" if self.postgres else "ANALYZE")


def backend_cpu_seconds(session) -> float | None:
    """CPU seconds (user + system) used so far by the PostgreSQL server processes connected to this
    session's database, read from /proc when the server runs on this machine; None on SQLite or when it
    cannot be read. Take the difference around the timed runs, with the same connections open.

    Wall-clock medians on a loaded machine measure the queue for the CPU as much as the query; this does not.
    """
    import sqlalchemy as sa

    if session.get_bind().dialect.name != "postgresql":
        return None
    pids = session.scalars(
        sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ).all()
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")
