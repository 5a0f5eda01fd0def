"""Web wiring: blueprints, the login gate, security headers, template helpers, error pages."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from flask import Flask, flash, has_request_context, render_template, request, session
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.local import LocalProxy
from werkzeug.routing import IntegerConverter

from . import formatting
from .extensions import login_manager
from .inputs import DB_INT_MAX, bad_text, json_fields
from .reference import DOCUMENT_TYPE_NAMES, PARTY_KIND_NAMES, PRIVACY_NAMES, ROLE_NAMES
from .security import PUBLIC_BLUEPRINTS, PUBLIC_ENDPOINTS
from .services import smtp_explain

# Blueprints of every area: (import path, url prefix). Areas add themselves here.
BLUEPRINTS: list[tuple[str, str | None]] = [
    ("mailer.auth.routes", "/auth"),
    ("mailer.main.routes", None),
    ("mailer.admin.routes", "/admin"),
    ("mailer.admin.pec_certificates", "/admin/certificati-pec"),
    ("mailer.auditlog.routes", "/admin/registro"),
    ("mailer.mailtemplates.routes", "/modelli"),
    ("mailer.contacts.routes", "/anagrafiche"),
    ("mailer.batches.routes", "/invii"),
    ("mailer.tracking.routes", "/ricevute"),
    ("mailer.documents.routes", "/documenti"),
    ("mailer.campaigns.routes", "/campagne"),
    ("mailer.preferences.routes", "/preferenze"),
    ("mailer.api.routes", "/api/v1"),
    ("mailer.api.tokens", "/api/v1/tokens"),
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'; frame-src 'self'"
)


def _bounded_int(map, *args, **kwargs) -> IntegerConverter:
    """<int:…> that never matches beyond an INTEGER column: such ids answer 404, not a database overflow (500)."""
    kwargs.setdefault("max", DB_INT_MAX)
    return IntegerConverter(map, *args, **kwargs)


def register_web(app: Flask) -> None:
    """Register blueprints, request hooks, template helpers and error handlers."""
    import importlib

    # A factory, not a subclass: the rules keep plain IntegerConverter instances (tests select them by class).
    app.url_map.converters["int"] = _bounded_int  # type: ignore[assignment]  # werkzeug only calls it
    for module_name, prefix in BLUEPRINTS:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.bp, url_prefix=prefix)

    @app.before_request
    def login_gate():
        """Every endpoint needs a login unless it is declared public."""
        if request.routing_exception is not None:
            return None  # no such URL (404) or method (405): the error answers, in JSON under /api/
        endpoint = request.endpoint or ""
        if endpoint in PUBLIC_ENDPOINTS or request.blueprint in PUBLIC_BLUEPRINTS:
            return None
        view = app.view_functions.get(endpoint)
        if view is not None and getattr(view, "_public", False):
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        # Idle timeout: a session unused for SESSION_IDLE_MINUTES ends.
        now = datetime.now(UTC).timestamp()
        last = session.get("seen", now)
        if now - last > app.config["SESSION_IDLE_MINUTES"] * 60:
            from .extensions import db
            from .services.users import close_session

            close_session(session.get("sid"))
            db.session.commit()
            logout_user()
            session.clear()
            flash("Sessione scaduta per inattività: accedi di nuovo.", "info")
            return login_manager.unauthorized()
        session["seen"] = now
        return None

    @app.before_request
    def refuse_unstorable_text():
        """NUL or a lone surrogate in any parameter, form field or JSON value: a field error before any view."""
        if request.routing_exception is not None:
            return None
        if getattr(app.view_functions.get(request.endpoint or ""), "_checks_own_text", False):
            return None
        fields = [*request.args.items(multi=True)]
        if request.method in ("POST", "PUT", "PATCH"):
            fields += request.form.items(multi=True)
            if request.is_json:
                with contextlib.suppress(RecursionError):  # nested too deep: the view refuses it as malformed
                    fields += json_fields(request.get_json(silent=True))
        problem = bad_text(fields)
        if problem is None:
            return None
        field, reason = problem
        if request.blueprint == "api":
            return {"error": "dati non validi", "fields": {field: reason}}, 422
        status = 400 if request.method == "GET" else 422
        return _error_page(
            status, "Dato non valido", f"Il campo «{field}» {reason}: correggi il valore e riprova."
        )

    @app.after_request
    def security_headers(response):
        """Security headers on every answer; Vary on HX-Request because fragments differ."""
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.vary.add("HX-Request")
        # Pages, downloads (results, messages, PDFs, exports) and API answers are private: nothing keeps
        # them (browser cache, proxy), unless the view chose otherwise (static files, the company logo).
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.jinja_env.filters.update(
        it_date=formatting.it_date,
        it_datetime=formatting.it_datetime,
        it_money=formatting.it_money,
        it_number=formatting.it_number,
        it_size=formatting.it_size,
        plural=formatting.plural,
        type_name=lambda code: DOCUMENT_TYPE_NAMES.get(code, code),
    )
    # SMTP replies in words (results, document page): one mapping, in the service module.
    app.jinja_env.globals.update(
        explain_smtp=smtp_explain.explain_reply,
        technical_reply=smtp_explain.technical_reply,
        sent_sentence=smtp_explain.sent_sentence,
    )

    @app.context_processor
    def globals_for_templates():
        """Values every page needs: company, demo banner, names of roles and levels."""
        from .services.reference import get_company

        common = {
            "ROLE_NAMES": ROLE_NAMES,
            "PRIVACY_NAMES": PRIVACY_NAMES,
            "PARTY_KIND_NAMES": PARTY_KIND_NAMES,
            "DOCUMENT_TYPE_NAMES": DOCUMENT_TYPE_NAMES,
        }
        if not has_request_context():
            # Templates rendered by jobs (e-mail summaries): no user, no navigation.
            return {
                **common,
                "company": get_company(),
                "nav_items": [],
                "has_endpoint": lambda endpoint: endpoint in app.view_functions,
            }
        # Read only by the templates that show it (a full page's footer, not the progress bar's fragment
        # polled every second), once per request.
        memo: list = []

        def company_now():
            if not memo:
                memo.append(get_company() if current_user.is_authenticated else None)
            return memo[0]

        return {
            **common,
            "company": LocalProxy(company_now),
            "nav_items": _nav_items(app),
            "has_endpoint": lambda endpoint: endpoint in app.view_functions,
        }

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        """A state change without a valid CSRF token."""
        return _error_page(
            400,
            "Richiesta non valida",
            "Il modulo è scaduto o non è stato inviato da questa applicazione. Ricarica la pagina e riprova.",
        )

    @app.errorhandler(403)
    def forbidden(error):
        """Forbidden: the user lacks the role or permission."""
        return _error_page(403, "Accesso negato", "Non hai i permessi per questa pagina o azione.")

    @app.errorhandler(404)
    def not_found(error):
        """Not found."""
        return _error_page(404, "Pagina non trovata", "La pagina o l'elemento richiesto non esiste.")

    @app.errorhandler(500)
    def server_error(error):
        """An unexpected failure: an Italian page, never Werkzeug's English one; the session is rolled back first."""
        from .extensions import db

        db.session.rollback()
        try:
            return _error_page(
                500,
                "Errore interno",
                "Qualcosa non ha funzionato. Riprova tra poco; se si ripete, "
                "avvisa l'amministratore indicando l'ora e che cosa stavi facendo.",
            )
        except Exception:  # noqa: BLE001 - the page itself cannot be drawn (database down): plain text, still in Italian
            return "Errore interno: riprova tra poco.", 500, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(413)
    def too_large(error):
        """Upload above MAX_CONTENT_LENGTH."""
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return _error_page(413, "File troppo grande", f"Il limite è {limit} MB.")


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266).

    The name may come from outside (FatturaPA, the ERP): it must not break the header (CR/LF, quotes)
    nor the WSGI server, which writes headers in Latin-1.
    """
    from urllib.parse import quote

    ascii_name = "".join(c if 32 < ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _error_page(status: int, title: str, message: str):
    """Render an error as JSON for API/JSON clients, as a fragment for htmx, or as a page."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return {"error": message}, status
    if request.headers.get("HX-Request"):
        return render_template("_error_fragment.html", title=title, message=message), status
    return render_template("error.html", title=title, message=message, status=status), status


def _nav_items(app: Flask) -> list[tuple[str, str, str]]:
    """Navigation entries (endpoint, label, roles) that exist in this app, filtered by role."""
    if not current_user.is_authenticated:
        return []
    entries = [
        ("main.dashboard", "Cruscotto", ""),
        ("contacts.parties", "Anagrafiche", "operator,manager,sales"),
        ("documents.index", "Documenti", "operator,manager"),
        ("batches.index", "Invii", "operator,manager"),
        ("tracking.index", "Ricevute", "operator,manager"),
        ("preferences.queue", "Richieste contatti", "operator,manager"),
        ("campaigns.index", "Campagne", "sales,manager"),
        ("templates.index", "Modelli e-mail", "admin"),
        ("admin.index", "Amministrazione", "admin"),
    ]
    return [
        (endpoint, label, roles)
        for endpoint, label, roles in entries
        if endpoint in app.view_functions and (not roles or current_user.has_role(*roles.split(",")))
    ]
