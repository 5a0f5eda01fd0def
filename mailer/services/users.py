"""Users: password hashing, login with throttling, creation and permission changes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from ..extensions import db
from ..models import DocumentType, LoginFailure, User, UserSession, utcnow
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


class LoginThrottled(LoginError):
    """Too many recent failures for this account from this address: try again in `seconds`."""

    def __init__(self, seconds: int):
        self.seconds = seconds
        super().__init__(
            f"Troppi tentativi falliti: riprova tra {seconds} {'secondo' if seconds == 1 else 'secondi'}."
        )


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


def login_delay(
    account: int,
    address: int,
    *,
    max_failures: int | None = None,
    address_limit: int | None = None,
    first: int | None = None,
    cap: int | None = None,
) -> int:
    """Seconds the next login of an account from an address must wait after that pair's last failure.

    `account` is the number of the account's recent failures from that address, `address` of every
    recent failure from the address. After LOGIN_MAX_FAILURES the wait doubles at each failure, from
    LOGIN_FIRST_DELAY_SECONDS up to LOGIN_MAX_DELAY_SECONDS: slow for a guesser, never a lock. Past
    LOGIN_ADDRESS_FAILURES from one address (someone trying many names), the waits start at an account's
    first failure there; an account without failures from the address never waits, so a colleague
    behind the same address cannot lock anyone else out.
    """
    config = current_app.config if None in (max_failures, address_limit, first, cap) else {}
    max_failures = config["LOGIN_MAX_FAILURES"] if max_failures is None else max_failures
    address_limit = config["LOGIN_ADDRESS_FAILURES"] if address_limit is None else address_limit
    first = config["LOGIN_FIRST_DELAY_SECONDS"] if first is None else first
    cap = config["LOGIN_MAX_DELAY_SECONDS"] if cap is None else cap
    threshold = max_failures if address < address_limit else 1
    if account < threshold:
        return 0
    return int(min(cap, first * 2 ** min(account - threshold, 32)))


def authenticate(username: str, password: str, ip: str) -> User:
    """Return the user for valid credentials; raise LoginError (generic message) otherwise.

    Throttled per (account, address) with growing waits (see login_delay); a refusal to wait is not a
    failure (it records nothing that would lengthen the wait). Every failure and refusal is audited and
    logged with the account name and address, never the password.
    """
    username = (username or "").strip().lower()[:64]
    window = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    recent = db.select(db.func.count(LoginFailure.id), db.func.max(LoginFailure.at)).where(
        LoginFailure.at >= window, LoginFailure.ip == ip
    )
    account_failures, last_failure = db.session.execute(recent.where(LoginFailure.username == username)).one()
    address_failures = db.session.scalar(recent.with_only_columns(db.func.count(LoginFailure.id))) or 0
    wait = login_delay(account_failures or 0, address_failures)
    if wait and last_failure is not None:
        remaining = int((last_failure + timedelta(seconds=wait) - utcnow()).total_seconds() + 0.999)
        if remaining > 0:
            audit(
                "login.throttled",
                username=username,
                wait_seconds=remaining,
                failures=account_failures,
                address_failures=address_failures,
            )
            db.session.commit()
            current_app.logger.warning(
                "login throttled: user=%s ip=%s failures=%d address_failures=%d wait=%ds",
                username,
                ip,
                account_failures,
                address_failures,
                remaining,
            )
            raise LoginThrottled(remaining)
    user = db.session.scalar(db.select(User).where(db.func.lower(User.username) == username))
    if not verify_password(user, password) or not user.active:
        db.session.execute(
            db.delete(LoginFailure).where(LoginFailure.at < window)
        )  # forgotten: keep the table small
        db.session.add(LoginFailure(username=username, ip=ip[:64]))
        audit("login.failed", username=username, failures=(account_failures or 0) + 1)
        db.session.commit()
        current_app.logger.warning(
            "login failed: user=%s ip=%s failures=%d address_failures=%d",
            username,
            ip,
            (account_failures or 0) + 1,
            address_failures + 1,
        )
        raise LoginError("Nome utente o password non corretti.")
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    # The account's failures from this address are forgotten; other addresses' stay (they may be a guesser's).
    db.session.execute(
        db.delete(LoginFailure).where(LoginFailure.username == username, LoginFailure.ip == ip)
    )
    audit("login", user=user)
    db.session.commit()
    current_app.logger.info("login: user=%s ip=%s", username, ip)
    return user


def create_user(
    username: str,
    password: str,
    *,
    full_name: str = "",
    email: str = "",
    roles: list[str] | None = None,
    clearance: int = 1,
    send_types: list[str] | None = None,
) -> User:
    """Create a user (the caller commits); raises ValueError with an Italian message."""
    username = (username or "").strip().lower()
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise ValueError(
            "Il nome utente può contenere solo lettere, cifre, punto, trattino e trattino basso."
        )
    if db.session.scalar(db.select(User).where(User.username == username)):
        raise ValueError(f"Esiste già un utente «{username}».")
    roles = roles or ["operator"]
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        raise ValueError(f"Ruolo sconosciuto: {', '.join(unknown)}.")
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        password_hash=hash_password(password),
        roles=",".join(roles),
        privacy_clearance=clearance,
        active=True,
    )
    user.send_types = list(
        db.session.scalars(db.select(DocumentType).where(DocumentType.code.in_(send_types or [])))
    )
    db.session.add(user)
    db.session.flush()
    return user


def _active_admin_ids() -> set[int]:
    """Ids of the active users with the admin role."""
    return {
        u.id
        for u in db.session.scalars(db.select(User).where(User.active.is_(True)))
        if "admin" in u.role_list
    }


def update_user(
    user: User,
    *,
    full_name: str,
    email: str,
    roles: list[str],
    clearance: int,
    send_types: list[str],
    active: bool,
) -> dict:
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
    if (
        user.id in _active_admin_ids()
        and ("admin" not in roles or not active)
        and len(_active_admin_ids()) <= 1
    ):
        raise ValueError(
            "È l'unico amministratore attivo: non può perdere il ruolo né essere disattivato. "
            "Nomina prima un altro amministratore."
        )
    types = list(
        db.session.scalars(
            db.select(DocumentType)
            .where(DocumentType.code.in_(send_types or []))
            .order_by(DocumentType.position)
        )
    )
    before = {
        "full_name": user.full_name,
        "email": user.email,
        "roles": user.role_list,
        "clearance": user.privacy_clearance,
        "send_types": sorted(user.send_type_codes),
        "active": user.active,
    }
    full_name, email = full_name.strip(), email.strip()
    after = {
        "full_name": full_name,
        "email": email,
        "roles": roles,
        "clearance": clearance,
        "send_types": sorted(t.code for t in types),
        "active": active,
    }
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    user.full_name = full_name
    user.email = email
    user.roles = ",".join(roles)
    user.privacy_clearance = clearance
    user.send_types = types
    if user.active and not active:
        end_all_sessions(user)  # a deactivated user's open sessions end now
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
    end_all_sessions(user)


def _session_key(secret: str) -> str:
    """What the database keeps of a session secret (a copy of the table opens no session)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(user: User, ip: str) -> str:
    """Record a new login of `user` (the caller commits); returns the secret for the session cookie.

    The user's sessions older than PERMANENT_SESSION_LIFETIME (whose cookies have expired) are dropped.
    """
    lifetime = current_app.permanent_session_lifetime
    db.session.execute(
        db.delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.created_at < utcnow() - lifetime
        )
    )
    secret = secrets.token_urlsafe(32)
    db.session.add(UserSession(id=_session_key(secret), user_id=user.id, ip=(ip or "")[:64]))
    return secret


def session_is_open(user_id: int, secret: str | None) -> bool:
    """True while the login with this secret has not been ended (logout, password change, expiry)."""
    if not secret:
        return False
    row = db.session.get(UserSession, _session_key(secret))
    return (
        row is not None
        and row.user_id == user_id
        and row.created_at >= utcnow() - current_app.permanent_session_lifetime
    )


def close_session(secret: str | None) -> None:
    """End one login (logout, idle timeout); the caller commits."""
    if secret:
        db.session.execute(db.delete(UserSession).where(UserSession.id == _session_key(secret)))


def end_all_sessions(user: User) -> None:
    """Log the user out everywhere (password change, deactivation); the caller commits."""
    user.session_version += 1
    db.session.execute(db.delete(UserSession).where(UserSession.user_id == user.id))
    db.session.execute(db.delete(LoginFailure).where(LoginFailure.username == user.username))
    audit("user.password_reset", user)
