"""Counting the SQL statements a piece of code runs (for tests that queries do not grow with the rows)."""

from __future__ import annotations

from sqlalchemy import event


class QueryCounter:
    """Counts the SQL statements run on the engine while active."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _hit(self, *args, **kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)
