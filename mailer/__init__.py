"""Recapito: the e-mail dispatch module. `create_app()` builds the Flask application."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, flash, redirect, request, session, url_for

from .config import INSECURE_KEYS, Config
from .extensions import csrf, db, htmx, login_manager, mail, migrate


def create_app(test_config: dict[str, Any] | type | None = None) -> Flask:
    """Application factory: configuration, extensions, blueprints, CLI commands."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH", os.path.join(root, "instance")),
        instance_relative_config=True,
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    app.config.from_object(Config)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    elif isinstance(test_config, dict):
        app.config.from_mapping(test_config)
    else:
        app.config.from_object(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "recapito.db")
    if not app.config.get("CAPTURE_DIR"):
        app.config["CAPTURE_DIR"] = os.path.join(app.instance_path, "captured")
    if not app.config.get("SPOOL_DIR"):
        app.config["SPOOL_DIR"] = os.path.join(app.instance_path, "spool")
    _check_production(app)
    _trust_proxy(app)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _tune_sqlite(db.engine, int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 15000)))
    migrate.init_app(app, db, directory=os.path.join(root, "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Accedi per continuare."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    htmx.init_app(app)
    mail.init_app(app)

    from . import models  # noqa: F401  (register the tables)
    from .web import register_web

    register_web(app)

    from .cli import register_cli

    register_cli(app)
    return app


def _check_production(app: Flask) -> None:
    """Refuse to start in production with a guessable SECRET_KEY, and in any mode with a malformed CREDENTIALS_KEY."""
    if app.config.get("ENV_NAME") == "production" and (
        app.config.get("SECRET_KEY", "") in INSECURE_KEYS or len(app.config.get("SECRET_KEY", "")) < 32
    ):
        raise RuntimeError(
            "RECAPITO_ENV=production ma SECRET_KEY manca o è di prova: imposta una chiave casuale di "
            "almeno 32 caratteri (es. python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    _check_credentials_key(app.config.get("CREDENTIALS_KEY") or "")


def _trust_proxy(app: Flask) -> None:
    """Behind a configured reverse proxy, take the client's address (and scheme, host) from its headers;
    without PROXY_FIX_* they are ignored, since any client could write them."""
    hops = {
        name: int(app.config.get(f"PROXY_FIX_X_{name.upper()}") or 0) for name in ("for", "proto", "host")
    }
    if any(hops.values()):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The middleware wraps the WSGI callable, as Flask documents; mypy sees a method being replaced.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops["for"], x_proto=hops["proto"], x_host=hops["host"]
        )


def _check_credentials_key(key: str) -> None:
    """A CREDENTIALS_KEY that is not a Fernet key would only fail at the first send: refuse it now."""
    if not key:
        return
    from cryptography.fernet import Fernet

    try:
        Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(
            "CREDENTIALS_KEY non è una chiave valida (32 byte in base64 url-safe): generane una con "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
        ) from exc


def _tune_sqlite(engine, busy_timeout_ms: int = 15000) -> None:
    """SQLite like a server database: WAL (readers do not block the writer), a busy timeout, foreign keys."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@login_manager.user_loader
def _load_user(user_id: str):
    """Load the user named in the session; a stale session version logs the user out."""
    from .models import User

    try:
        uid, version = user_id.split(":", 1)
        user = db.session.get(User, int(uid))
    except (ValueError, TypeError):
        return None
    if user is None or str(user.session_version) != version or not user.active:
        return None
    from .services.users import session_is_open

    if not session_is_open(user.id, session.get("sid")):  # ended by a logout, maybe on another host
        return None
    return user


@login_manager.unauthorized_handler
def _unauthorized():
    """Redirect pages to the login form; answer htmx and JSON requests with 401."""
    if request.headers.get("HX-Request") or request.accept_mimetypes.best == "application/json":
        return {"error": "Sessione scaduta: accedi di nuovo."}, 401, {"HX-Redirect": url_for("auth.login")}
    flash("Accedi per continuare.", "info")
    return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
