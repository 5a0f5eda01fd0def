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
