"""Content-addressed file storage in the database."""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..models import Blob


def store_blob(data: bytes, content_type: str = "application/octet-stream") -> str:
    """Store bytes once (by SHA-256) and return the hash; storing the same bytes again is free."""
    sha = hashlib.sha256(data).hexdigest()
    values = {"sha256": sha, "size": len(data), "content_type": content_type, "data": data}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(pg_insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
    elif dialect == "sqlite":
        db.session.execute(
            sqlite_insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"])
        )
    elif db.session.get(Blob, sha) is None:
        db.session.add(Blob(**values))
    return sha


def load_blob(sha: str) -> Blob | None:
    """Return the stored file for a hash, or None."""
    return db.session.get(Blob, sha)
