"""Real services for the tests: a private Redis and databases prepared by the migrations."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class PrivateRedis:
    """A redis-server of our own on a free port, in a temporary directory, keeping nothing on disk."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        """Start the server and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server non trovato: esegui 'make setup' (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def restart(self) -> None:
        """Stop and start again on the same port (its data is lost: it keeps nothing on disk)."""
        self.stop()
        self.proc = None
        self.start()


def create_postgres_database(base_url: str) -> str:
    """Create a uniquely named database next to base_url and return its URL."""
    parts = urlsplit(base_url)
    name = f"recapito_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def drop_postgres_database(base_url: str, url: str) -> None:
    """Drop a database created by create_postgres_database."""
    name = urlsplit(url).path.lstrip("/")
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


class PostgresSnapshot:
    """The rows of a freshly migrated PostgreSQL database, kept in a schema of their own, put back after
    each test: every table emptied (DELETE, children first) and refilled from the copy, every sequence
    back where it was. Much cheaper than TRUNCATE (new files for every table and index, synced at commit)
    or a new database per test; the next test starts from exactly the migrated rows.

    The database also gets `synchronous_commit = off`: a test's commits no longer wait for the WAL to
    reach the disk (nothing changes for what other connections see; only durability after a crash)."""

    SCHEMA = "recapito_snapshot"

    def __init__(self, url: str, tables: list[str]):
        self.url = url
        self.tables = tables  # parents first
        self.filled: list[str] = []
        self.sequences: list[tuple[str, int, bool]] = []
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def take(self) -> PostgresSnapshot:
        """Copy the rows of every non-empty table and the state of every sequence."""
        name = urlsplit(self.url).path.lstrip("/")
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            conn.exec_driver_sql(f'CREATE SCHEMA "{self.SCHEMA}"')
            for table in self.tables:
                if conn.exec_driver_sql(f'SELECT EXISTS (SELECT 1 FROM public."{table}")').scalar():
                    conn.exec_driver_sql(
                        f'CREATE TABLE "{self.SCHEMA}"."{table}" AS SELECT * FROM public."{table}"'
                    )
                    self.filled.append(table)
            # Rows written with explicit ids (migrations' bulk inserts) leave their sequence behind: move
            # each id sequence past its table's rows first, or the next insert of a test collides.
            with_id = set(
                conn.exec_driver_sql(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'id'"
                ).scalars()
            )
            for table in (t for t in self.tables if t in with_id):
                seq = conn.exec_driver_sql(
                    "SELECT pg_get_serial_sequence(%(t)s, 'id')", {"t": f'public."{table}"'}
                ).scalar()
                if seq:
                    conn.exec_driver_sql(
                        f'SELECT setval(%(s)s, COALESCE((SELECT MAX(id) FROM public."{table}"), 0) + 1, false)',
                        {"s": seq},
                    )
            names = conn.exec_driver_sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'S' AND n.nspname = 'public' ORDER BY c.relname"
            ).scalars()
            for seq in list(names):
                last, called = conn.exec_driver_sql(f'SELECT last_value, is_called FROM public."{seq}"').one()
                self.sequences.append((seq, last, called))
        return self

    def restore(self) -> None:
        """Put the database back as it was when the snapshot was taken."""
        with self.engine.begin() as conn:
            for table in reversed(self.tables):
                conn.exec_driver_sql(f'DELETE FROM public."{table}"')
            for table in self.filled:
                conn.exec_driver_sql(f'INSERT INTO public."{table}" SELECT * FROM "{self.SCHEMA}"."{table}"')
            for seq, last, called in self.sequences:
                conn.execute(
                    sa.text("SELECT setval(:seq, :last, :called)"),
                    {"seq": f'public."{seq}"', "last": last, "called": called},
                )

    def dispose(self) -> None:
        """Close the connections."""
        self.engine.dispose()
