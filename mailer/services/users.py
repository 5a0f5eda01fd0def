"""Users: password hashing, login with throttling, creation and permission changes."""
from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from ..extensions import db
from ..models import DocumentType, LoginFailure, User, utcnow
from ..reference import ROLE_NAMES
from .audit import audit

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("recapito-dummy-password")


class LoginError(Exception):
    """Login refused; the message is safe to show (it never says whether the user exists)."""


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time whether or not the user exists."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def validate_new_password(password: str) -> str | None:
    """Return an Italian error message when a new password is too weak, else None."""
    if len(password) < 10:
        return "La password deve avere almeno 10 caratteri."
    return None


def authenticate(username: str, password: str, ip: str) -> User:
    """Return the user for valid credentials; raise LoginError (generic message) otherwise."""
    username = (username or "").strip().lower()
    max_failures = current_app.config["LOGIN_MAX_FAILURES"]
    window = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    recent = db.session.scalar(
        db.select(db.func.count(LoginFailure.id)).where(
            LoginFailure.at >= window, db.or_(LoginFailure.username == username, LoginFailure.ip == ip)
        )
    ) or 0
    if recent >= max_failures * 2 or db.session.scalar(
        db.select(db.func.count(LoginFailure.id)).where(LoginFailure.at >= window, LoginFailure.username == username)
    ) >= max_failures:
        audit("login.throttled", username=username, ip_address=ip)
        db.session.commit()
        raise LoginError(
            f"Troppi tentativi falliti: riprova tra {current_app.config['LOGIN_LOCK_MINUTES']} minuti."
        )
    user = db.session.scalar(db.select(User).where(db.func.lower(User.username) == username))
    if not verify_password(user, password) or not user.active:
        db.session.add(LoginFailure(username=username, ip=ip))
        audit("login.failed", username=username)
        db.session.commit()
        raise LoginError("Nome utente o password non corretti.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.execute(db.delete(LoginFailure).where(LoginFailure.username == username))
    audit("login", user=user)
    db.session.commit()
    return user


def create_user(username: str, password: str, *, full_name: str = "", email: str = "",
                roles: list[str] | None = None, clearance: int = 1,
                send_types: list[str] | None = None) -> User:
    """Create a user (the caller commits); raises ValueError with an Italian message."""
    username = (username or "").strip().lower()
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise ValueError("Il nome utente può contenere solo lettere, cifre, punto, trattino e trattino basso.")
    if db.session.scalar(db.select(User).where(User.username == username)):
        raise ValueError(f"Esiste già un utente «{username}».")
    roles = roles or ["operator"]
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        raise ValueError(f"Ruolo sconosciuto: {', '.join(unknown)}.")
    user = User(username=username, full_name=full_name, email=email, password_hash=hash_password(password),
                roles=",".join(roles), privacy_clearance=clearance, active=True)
    user.send_types = list(db.session.scalars(db.select(DocumentType).where(DocumentType.code.in_(send_types or []))))
    db.session.add(user)
    db.session.flush()
    return user
