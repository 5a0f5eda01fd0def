"""Users: password hashing, login with throttling, creation and permission changes."""
from __future__ import annotations

from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from ..extensions import db
from ..models import DocumentType, LoginFailure, User, utcnow
from ..reference import ROLE_NAMES
from .audit import audit


ARGON2_DEFAULT_COST = (3, 65536, 4)  # argon2-cffi's defaults (RFC 9106, low-memory profile)


@cache
def _argon2(time_cost: int, memory_cost: int, parallelism: int) -> tuple[PasswordHasher, str]:
    """The argon2id hasher for a cost, and a hash verified against when the user does not exist (same time)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher, hasher.hash("recapito-dummy-password")


def _hasher() -> PasswordHasher:
    """The configured hasher: argon2's defaults, or ARGON2_COST = (time, memory KiB, lanes) (cheap in the tests)."""
    return _argon2(*current_app.config.get("ARGON2_COST", ARGON2_DEFAULT_COST))[0]


class LoginError(Exception):
    """Login refused; the message is safe to show (it never says whether the user exists)."""


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher().hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Check a password in constant-ish time whether or not the user exists."""
    try:
        dummy = _argon2(*current_app.config.get("ARGON2_COST", ARGON2_DEFAULT_COST))[1]
        return _hasher().verify(user.password_hash if user else dummy, password) and user is not None
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
    if _hasher().check_needs_rehash(user.password_hash):
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


def _active_admin_ids() -> set[int]:
    """Ids of the active users with the admin role."""
    return {
        u.id for u in db.session.scalars(db.select(User).where(User.active.is_(True)))
        if "admin" in u.role_list
    }


def update_user(user: User, *, full_name: str, email: str, roles: list[str], clearance: int,
                send_types: list[str], active: bool) -> dict:
    """Change a user's details and permissions (the caller commits); returns the changes audited.

    Raises ValueError (Italian) for unknown roles or levels, and when the change would leave no
    active administrator.
    """
    roles = [r for r in dict.fromkeys(roles) if r]
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        raise ValueError(f"Ruolo sconosciuto: {', '.join(unknown)}.")
    if not roles:
        raise ValueError("Scegli almeno un ruolo.")
    if clearance not in (0, 1, 2, 3):
        raise ValueError("Livello di riservatezza non valido.")
    if user.id in _active_admin_ids() and ("admin" not in roles or not active) and len(_active_admin_ids()) <= 1:
        raise ValueError("È l'unico amministratore attivo: non può perdere il ruolo né essere disattivato. "
                         "Nomina prima un altro amministratore.")
    types = list(db.session.scalars(db.select(DocumentType).where(DocumentType.code.in_(send_types or []))
                                    .order_by(DocumentType.position)))
    before = {"full_name": user.full_name, "email": user.email, "roles": user.role_list,
              "clearance": user.privacy_clearance, "send_types": sorted(user.send_type_codes), "active": user.active}
    after = {"full_name": full_name.strip(), "email": email.strip(), "roles": roles, "clearance": clearance,
             "send_types": sorted(t.code for t in types), "active": active}
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    user.full_name = after["full_name"]
    user.email = after["email"]
    user.roles = ",".join(roles)
    user.privacy_clearance = clearance
    user.send_types = types
    if user.active and not active:
        user.session_version += 1  # a deactivated user's open sessions end now
    user.active = active
    if changes:
        audit("user.update", user, changes=changes)
    return changes


def set_password(user: User, password: str) -> None:
    """Reset a user's password (the caller commits); ends the user's other sessions."""
    problem = validate_new_password(password)
    if problem:
        raise ValueError(problem)
    user.password_hash = hash_password(password)
    user.session_version += 1
    db.session.execute(db.delete(LoginFailure).where(LoginFailure.username == user.username))
    audit("user.password_reset", user)
