"""One database connection for a sender's whole run, instead of one pool checkout per commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_sqlalchemy.session import Session

from ...extensions import db


class _OneConnectionSession(Session):
    """Flask-SQLAlchemy's session, running every statement on the connection it was given (the original
    picks the engine for each statement, and with it a pool checkout for each transaction)."""

    def get_bind(self, *args, **kwargs):
        """The connection given at creation, whatever the statement."""
        assert self.bind is not None  # set by held_connection()
        return self.bind


@contextmanager
def held_connection() -> Iterator[None]:
    """Within the block, `db.session` works on one pooled connection, kept from its first to its last commit.

    A sender commits once a message (the claim before the SMTP transaction). Through the pool each of those
    commits also returned the connection (a ROLLBACK to reset it) and took it again for the next statement
    (a ping, `pool_pre_ping`): two more round trips to the database a message, waited for twice on a busy
    machine (tests/integration/test_sender_statements.py). A connection lost meanwhile (a database restart)
    is replaced on its next use, after the session's rollback, as the pool would. The caller's session is
    set aside and put back afterwards.
    """
    registry = db.session.registry
    outer = registry() if registry.has() else None
    with db.engine.connect() as connection:
        session = _OneConnectionSession(db, bind=connection, query_cls=db.Query)
        registry.set(session)
        try:
            yield
        finally:
            session.close()
            if outer is not None:
                registry.set(outer)
            else:
                registry.clear()
