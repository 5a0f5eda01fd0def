"""Encryption at rest for account passwords (Fernet), with a key kept outside the database."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    """Build the Fernet object from CREDENTIALS_KEY, or derive one from SECRET_KEY."""
    key = current_app.config.get("CREDENTIALS_KEY") or ""
    if not key:
        digest = hashlib.sha256(
            ("recapito-credentials:" + current_app.config["SECRET_KEY"]).encode()
        ).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt_secret(plain: str) -> str:
    """Encrypt a password for storage; empty stays empty."""
    if not plain:
        return ""
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str) -> str:
    """Decrypt a stored password; raises ValueError with an Italian message if the key is wrong."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError(
            "La password salvata non si può decifrare: la chiave CREDENTIALS_KEY è cambiata?"
        ) from exc
