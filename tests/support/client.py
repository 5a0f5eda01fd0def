"""A test client that sends the CSRF token like the real pages do (form field or htmx header)."""

from __future__ import annotations

import hashlib
import os

from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer


class CsrfClient(FlaskClient):
    """FlaskClient that adds a valid X-CSRFToken header to state changes unless csrf=False."""

    def csrf_token(self) -> str:
        """A signed token for this client's session, as Flask-WTF's generate_csrf() makes it."""
        with self.session_transaction() as sess:
            if "csrf_token" not in sess:
                sess["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
            raw = sess["csrf_token"]
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def open(self, *args, **kwargs):
        """Add the CSRF header to POST/PUT/PATCH/DELETE."""
        csrf = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method in {"POST", "PUT", "PATCH", "DELETE"}:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)
