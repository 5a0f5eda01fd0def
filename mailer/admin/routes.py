"""Administration: users, company, sending accounts, zones/agents/categories, captured mail (admin role only)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db, htmx
from ..models import DocumentType, MailAccount, User
from ..reference import PRIVACY_LEVELS, ROLES
from ..security import clearance, require_roles
from ..services import accounts as account_service
from ..services import classification, oauth_tokens
from ..services import company as company_service
from ..services import presets as preset_service
from ..services.audit import audit
from ..services.blobs import load_blob
from ..services.reference import get_company
from ..services.users import create_user, set_password, update_user, validate_new_password
from ..transport import capture

bp = Blueprint("admin", __name__)

CAPTURED_PAGE_SIZE = 50
# The captured HTML body is shown in a sandboxed iframe with no scripts, no network, no forms.
CAPTURED_HTML_CSP = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


@bp.before_request
def admins_only():
    """Every admin page needs the admin role."""
    require_roles("admin")


def _wants(target: str) -> bool:
    """True when the htmx request asks for this fragment (by target id)."""
    return bool(htmx) and htmx.target == target


@bp.route("/")
def index():
    """Administration home."""
    return render_template("admin/index.html")


# --- users ---------------------------------------------------------------------------------------


def _user_form_context(user: User | None, values: dict | None = None, errors: dict | None = None) -> dict:
    """What the user form needs: the choices and the current (or submitted) values."""
    types = db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)).all()
    if values is None:
        values = {
            "username": user.username if user else "",
            "full_name": user.full_name if user else "",
            "email": user.email if user else "",
            "roles": user.role_list if user else ["operator"],
            "clearance": user.privacy_clearance if user else 1,
            "send_types": sorted(user.send_type_codes) if user else [],
            "active": user.active if user else True,
        }
    return {
        "user": user,
        "values": values,
        "errors": errors or {},
        "types": types,
        "roles": ROLES,
        "levels": [(level, name) for level, name in PRIVACY_LEVELS if level <= clearance()],
    }


def _submitted_user_values() -> dict:
    """The user form as submitted."""
    try:
        clearance = int(request.form.get("clearance", "1"))
    except ValueError:
        clearance = -1
    return {
        "username": request.form.get("username", "").strip().lower(),
        "full_name": request.form.get("full_name", "").strip(),
        "email": request.form.get("email", "").strip(),
        "roles": request.form.getlist("roles"),
        "clearance": clearance,
        "send_types": request.form.getlist("send_types"),
        "active": request.form.get("active") in ("1", "on", "y"),
    }


def _admin_count() -> int:
    """Active administrators (to say why the last one is locked)."""
    return sum(
        1 for u in db.session.scalars(db.select(User).where(User.active.is_(True))) if "admin" in u.role_list
    )


@bp.route("/users")
def users():
    """Users with their roles, permissions and clearance."""
    rows = db.session.scalars(db.select(User).order_by(User.active.desc(), User.username)).all()
    type_count = db.session.scalar(db.select(db.func.count()).select_from(DocumentType))
    return render_template("admin/users.html", users=rows, type_count=type_count, admin_count=_admin_count())


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    """Create a user with an initial password."""
    if request.method == "GET":
        return render_template("admin/user_new.html", **_user_form_context(None))
    values = _submitted_user_values()
    errors: dict[str, str] = {}
    password = request.form.get("password", "")
    problem = validate_new_password(password)
    if problem:
        errors["password"] = problem
    elif password != request.form.get("password2", ""):
        errors["password2"] = "Le due password non coincidono."
    if not values["roles"]:
        errors["roles"] = "Scegli almeno un ruolo."
    if values["clearance"] not in (0, 1, 2, 3):
        errors["clearance"] = "Livello non valido."
    elif values["clearance"] > clearance():
        errors["clearance"] = "Non puoi dare a un utente un livello di riservatezza superiore al tuo."
    if not errors:
        try:
            user = create_user(
                values["username"],
                password,
                full_name=values["full_name"],
                email=values["email"],
                roles=values["roles"],
                clearance=values["clearance"],
                send_types=values["send_types"],
            )
        except ValueError as exc:
            errors["username"] = str(exc)
        else:
            user.active = values["active"]
            audit(
                "user.create",
                user,
                roles=values["roles"],
                clearance=values["clearance"],
                send_types=sorted(values["send_types"]),
            )
            db.session.commit()
            flash(f"Utente «{user.username}» creato.", "success")
            return redirect(url_for("admin.users"))
    db.session.rollback()
    return render_template("admin/user_new.html", **_user_form_context(None, values, errors)), 422


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    """Edit a user's details, roles, send permissions, clearance and state (inline row or page)."""
    user = db.session.get(User, user_id) or abort(404)
    inline = _wants(f"user-{user.id}")
    if request.method == "GET":
        template = "admin/_user_edit_row.html" if inline else "admin/user_edit.html"
        return render_template(template, **_user_form_context(user))
    _not_above_me(user)
    values = _submitted_user_values()
    values["username"] = user.username
    try:
        if values["clearance"] > clearance():
            raise ValueError("Non puoi dare a un utente un livello di riservatezza superiore al tuo.")
        changes = update_user(
            user,
            full_name=values["full_name"],
            email=values["email"],
            roles=values["roles"],
            clearance=values["clearance"],
            send_types=values["send_types"],
            active=values["active"],
        )
    except ValueError as exc:
        db.session.rollback()
        user = db.session.get(User, user_id)
        context = _user_form_context(user, values, {"form": str(exc)})
        if inline:
            return render_template("admin/_user_edit_row.html", **context)
        return render_template("admin/user_edit.html", **context), 422
    db.session.commit()
    if inline:
        return render_template(
            "admin/_user_row.html",
            u=user,
            saved=bool(changes),
            type_count=len(_user_form_context(user)["types"]),
            admin_count=_admin_count(),
        )
    flash(
        f"Utente «{user.username}» aggiornato." if changes else "Nessuna modifica.",
        "success",
    )
    return redirect(url_for("admin.users"))


def _not_above_me(user: User) -> None:
    """403 when the user's clearance is above the administrator's: taking over their account (password,
    e-mail that receives the batch summaries) would read what the administrator may not."""
    if user.privacy_clearance > clearance():
        abort(403)


@bp.route("/users/<int:user_id>/row")
def user_row(user_id: int):
    """One user's row as shown in the list (used by «Annulla» of the inline editor)."""
    user = db.session.get(User, user_id) or abort(404)
    if not _wants(f"user-{user.id}"):
        return redirect(url_for("admin.users"))
    type_count = db.session.scalar(db.select(db.func.count()).select_from(DocumentType))
    return render_template("admin/_user_row.html", u=user, type_count=type_count, admin_count=_admin_count())


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def user_password(user_id: int):
    """Set a new password for a user (their open sessions end)."""
    user = db.session.get(User, user_id) or abort(404)
    _not_above_me(user)
    password = request.form.get("password", "")
    error = validate_new_password(password)
    if not error and password != request.form.get("password2", ""):
        error = "Le due password non coincidono."
    if error:
        context = _user_form_context(user)
        context["password_error"] = error
        return render_template("admin/user_edit.html", **context), 422
    set_password(user, password)
    db.session.commit()
    if user.id == current_user.id:
        flash("Password cambiata: accedi di nuovo con quella nuova.", "success")
        return redirect(url_for("auth.login"))
    flash(f"Password di «{user.username}» reimpostata: comunicagliela di persona.", "success")
    return redirect(url_for("admin.users"))


# --- company -------------------------------------------------------------------------------------


@bp.route("/company", methods=["GET", "POST"])
def company():
    """Company data used by every PDF and e-mail, and the sending rules (four eyes, soft spam)."""
    row = get_company()
    if request.method == "GET":
        return render_template("admin/company.html", values=company_service.form_values(row), errors={})
    values, errors = company_service.validate_company(request.form, row)
    if errors:
        return render_template("admin/company.html", values=values, errors=errors), 422
    changes = company_service.update_company(row, values)
    db.session.commit()
    flash("Dati azienda salvati." if changes else "Nessuna modifica.", "success")
    return redirect(url_for("admin.company"))


@bp.route("/company/logo", methods=["GET", "POST"])
def company_logo():
    """GET: the logo image; POST: upload a new one (PNG or JPEG, checked by content)."""
    row = get_company()
    if request.method == "GET":
        blob = load_blob(row.logo_sha256) if row.logo_sha256 else None
        if blob is None:
            abort(404)
        response = make_response(blob.data)
        response.headers["Content-Type"] = blob.content_type
        response.headers["Cache-Control"] = "private, max-age=300"
        return response
    upload = request.files.get("logo")
    data = upload.read() if upload else b""
    try:
        company_service.set_logo(row, data)
    except ValueError as exc:
        db.session.rollback()
        return render_template(
            "admin/company.html", values=company_service.form_values(row), errors={}, logo_error=str(exc)
        ), 422
    db.session.commit()
    flash("Logo aggiornato.", "success")
    return redirect(url_for("admin.company"))


@bp.route("/company/logo/remove", methods=["POST"])
def company_logo_remove():
    """Remove the logo."""
    company_service.remove_logo(get_company())
    db.session.commit()
    flash("Logo rimosso.", "success")
    return redirect(url_for("admin.company"))


# --- sending accounts ----------------------------------------------------------------------------


def _account_context(account: MailAccount | None, values: dict, errors: dict) -> dict:
    """What the account form needs."""
    return {
        "account": account,
        "values": values,
        "errors": errors,
        "kinds": account_service.KINDS,
        "tls_modes": account_service.TLS_MODES,
        "imap_after": account_service.IMAP_AFTER,
        "presets": preset_service.PRESETS,
        "preset": preset_service.get_preset(values.get("preset", "")),
        "ca_summary": account_service.ca_bundle_summary(values.get("tls_ca_pem") or ""),
        "auth_kinds": oauth_tokens.AUTH_KINDS,
    }


@bp.route("/accounts")
def accounts():
    """Sending accounts, each with «prova connessione»."""
    rows = db.session.scalars(
        db.select(MailAccount).order_by(MailAccount.active.desc(), MailAccount.kind, MailAccount.name)
    ).all()
    return render_template(
        "admin/accounts.html", accounts=rows, kinds=account_service.KINDS, tls_modes=account_service.TLS_MODES
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
def account_new():
    """Create a sending account."""
    return _account_form(None)


@bp.route("/accounts/<int:account_id>", methods=["GET", "POST"])
def account_edit(account_id: int):
    """Edit a sending account (a blank password keeps the stored one)."""
    return _account_form(db.session.get(MailAccount, account_id) or abort(404))


def _account_form(account: MailAccount | None):
    """Show, validate and save the account form."""
    if request.method == "GET":
        return render_template(
            "admin/account_form.html", **_account_context(account, account_service.form_values(account), {})
        )
    if request.form.get("apply_preset"):
        # Choosing a provider re-renders the form filled with its settings; nothing is saved yet.
        values = preset_service.apply_preset(
            request.form.to_dict(),
            request.form.get("preset", ""),
            has_auth_kind=hasattr(MailAccount, "auth_kind"),
        )
        if account is not None:
            values["has_password"] = bool(account.password_encrypted)
            values["has_imap_password"] = bool(account.imap_password_encrypted)
        return render_template("admin/account_form.html", **_account_context(account, values, {}))
    upload = request.files.get("tls_ca_file")
    values, errors = account_service.validate_account(
        request.form, account, ca_upload=upload.read(64 * 1024) if upload else None
    )
    if errors:
        shown = dict(values)
        shown["max_message_mb"] = request.form.get("max_message_mb", "")
        shown.update(account_service.stored_secrets(account))
        return render_template("admin/account_form.html", **_account_context(account, shown, errors)), 422
    saved = account_service.save_account(
        account,
        values,
        password=request.form.get("password", ""),
        imap_password=request.form.get("imap_password", ""),
        clear_password=request.form.get("clear_password") == "1",
        oauth_secret=request.form.get("oauth_secret", ""),
        oauth_refresh_token=request.form.get("oauth_refresh_token", ""),
    )
    db.session.commit()
    flash(f"Account «{saved.name}» salvato. Prova la connessione per controllarlo.", "success")
    return redirect(url_for("admin.account_edit", account_id=saved.id))


@bp.route("/accounts/<int:account_id>/test", methods=["POST"])
def account_test(account_id: int):
    """«Prova connessione»: connect and log in, show what the server answered."""
    account = db.session.get(MailAccount, account_id) or abort(404)
    result = account_service.check_account(account)
    db.session.commit()  # the audit event
    if htmx:
        return render_template("admin/_account_test.html", account=account, result=result)
    return render_template("admin/account_test.html", account=account, result=result)


@bp.route("/accounts/<int:account_id>/oauth", methods=["POST"])
def account_oauth_start(account_id: int):
    """Microsoft delegated: send the administrator to Microsoft to grant access once (authorisation code)."""
    account = db.session.get(MailAccount, account_id) or abort(404)
    if account.auth_kind != "ms_delegated":
        abort(404)
    try:
        target = oauth_tokens.start_authorization(
            account, url_for("admin.account_oauth_callback", _external=True), current_user.id
        )
    except oauth_tokens.OAuthError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.account_edit", account_id=account.id))
    return redirect(target)


@bp.route("/accounts/oauth/callback")
def account_oauth_callback():
    """Where Microsoft sends the administrator back (register this address as the app's redirect URI)."""
    try:
        account = oauth_tokens.finish_authorization(request.args, current_user.id)
    except oauth_tokens.OAuthError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.accounts"))
    audit("account.oauth_authorized", account, secrets_changed=["oauth_refresh_token"])
    db.session.commit()
    flash(
        f"Autorizzazione di Microsoft salvata per «{account.name}»: prova la connessione.",
        "success",
    )
    return redirect(url_for("admin.account_edit", account_id=account.id))


# --- zones, agents, categories -------------------------------------------------------------------


def _tables_page(
    status: int = 200,
    kind: str = "",
    entry_id: int | None = None,
    values: dict | None = None,
    errors: dict | None = None,
    problem: str = "",
):
    """The page with the three tables; `kind`/`entry_id` say which form the values, errors or problem belong to."""
    sections = [(t, classification.entries(t)) for t in classification.TABLES.values()]
    return render_template(
        "admin/tables.html",
        sections=sections,
        failed={
            "kind": kind,
            "entry_id": entry_id,
            "values": values or {},
            "errors": errors or {},
            "problem": problem,
        },
    ), status


def _table_or_404(kind: str) -> classification.Table:
    """The table named in the URL, or 404."""
    return classification.table(kind) or abort(404)


def _entry_or_404(t: classification.Table, entry_id: int):
    """A row of the table, or 404."""
    return db.session.get(t.model, entry_id) or abort(404)


@bp.route("/tables")
def tables():
    """Zones, agents and party categories, with how many parties use each."""
    return _tables_page()


@bp.route("/tables/<kind>", methods=["POST"])
def table_add(kind: str):
    """Add a zone, agent or category."""
    t = _table_or_404(kind)
    row, errors = classification.create_entry(
        t, request.form.get("code", ""), request.form.get("name", ""), request.form.get("email", "")
    )
    if errors:
        db.session.rollback()
        return _tables_page(422, kind, None, request.form.to_dict(), errors)
    db.session.commit()
    flash(f"{t.noun.capitalize()} «{row.code}» aggiunt{t.ending}.", "success")
    return redirect(url_for("admin.tables", _anchor=kind))


@bp.route("/tables/<kind>/<int:entry_id>", methods=["POST"])
def table_update(kind: str, entry_id: int):
    """Rename a zone, agent or category (and change an agent's e-mail); the code stays."""
    t = _table_or_404(kind)
    row = _entry_or_404(t, entry_id)
    changes, errors = classification.update_entry(
        t, row, request.form.get("name", ""), request.form.get("email", "")
    )
    if errors:
        db.session.rollback()
        return _tables_page(422, kind, entry_id, request.form.to_dict(), errors)
    db.session.commit()
    flash(
        f"{t.noun.capitalize()} «{row.code}» salvat{t.ending}." if changes else "Nessuna modifica.",
        "success",
    )
    return redirect(url_for("admin.tables", _anchor=f"{kind}-{row.id}"))


@bp.route("/tables/<kind>/<int:entry_id>/delete", methods=["POST"])
def table_delete(kind: str, entry_id: int):
    """Delete a zone, agent or category that no party and no saved filter uses."""
    t = _table_or_404(kind)
    row = _entry_or_404(t, entry_id)
    code = row.code
    problem = classification.delete_entry(t, row)
    if problem:
        db.session.rollback()
        return _tables_page(409, kind, entry_id, problem=problem)
    db.session.commit()
    flash(f"{t.noun.capitalize()} «{code}» eliminat{t.ending}.", "success")
    return redirect(url_for("admin.tables", _anchor=kind))


# --- captured mail -------------------------------------------------------------------------------


def _capture_dir() -> str:
    """Where the capture server keeps its messages."""
    return current_app.config["CAPTURE_DIR"]


@bp.before_request
def captured_needs_top_clearance():
    """Captured messages are whole e-mails to any recipient: only an admin at the highest privacy level reads them."""
    if (request.endpoint or "").startswith("admin.captured") and clearance() < max(
        lvl for lvl, _n in PRIVACY_LEVELS
    ):
        abort(403)


@bp.route("/captured")
def captured():
    """Messages received by the local capture server (newest first), with search and pages."""
    query = request.args.get("q", "").strip()
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    items, total = capture.list_captured(
        _capture_dir(), (page - 1) * CAPTURED_PAGE_SIZE, CAPTURED_PAGE_SIZE, query
    )
    pages = max(1, -(-total // CAPTURED_PAGE_SIZE))
    context = {
        "items": items,
        "total": total,
        "page": page,
        "pages": pages,
        "q": query,
        "capture_host": current_app.config["CAPTURE_SMTP_HOST"],
        "capture_port": current_app.config["CAPTURE_SMTP_PORT"],
    }
    if _wants("captured-list"):
        return render_template("admin/_captured_list.html", **context)
    return render_template("admin/captured.html", **context)


def _message_or_404(message_id: str) -> capture.CapturedMessage:
    """Load a captured message or answer 404."""
    return capture.load_captured(_capture_dir(), message_id) or abort(404)


@bp.route("/captured/<message_id>")
def captured_message(message_id: str):
    """One captured message: envelope, headers, bodies, attachments."""
    message = _message_or_404(message_id)
    return render_template(
        "admin/captured_message.html",
        m=message,
        text=message.body("plain"),
        has_html=message.body("html") is not None,
        parts=message.parts(),
    )


@bp.route("/captured/<message_id>/html")
def captured_html(message_id: str):
    """The HTML body, for the sandboxed iframe (strict CSP: no scripts, no remote content)."""
    html = _message_or_404(message_id).body("html")
    if html is None:
        abort(404)
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = CAPTURED_HTML_CSP
    return response


@bp.route("/captured/<message_id>/attachments/<int:index>")
def captured_attachment(message_id: str, index: int):
    """Download one attachment (always as a download, never rendered inline)."""
    found = _message_or_404(message_id).attachment(index) or abort(404)
    filename, content_type, payload = found
    response = make_response(payload)
    response.headers["Content-Type"] = content_type if "/" in content_type else "application/octet-stream"
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route("/captured/<message_id>/raw")
def captured_raw(message_id: str):
    """The message exactly as received (.eml)."""
    message = _message_or_404(message_id)
    with open(f"{_capture_dir()}/{message.id}.eml", "rb") as handle:
        response = make_response(handle.read())
    response.headers["Content-Type"] = "message/rfc822"
    response.headers["Content-Disposition"] = _disposition(f"{message.id}.eml")
    return response


@bp.route("/captured/clear", methods=["POST"])
def captured_clear():
    """Delete every captured message."""
    removed = capture.clear_captured(_capture_dir())
    audit("captured.clear", removed=removed)
    db.session.commit()
    flash(f"Eliminati {removed} messaggi catturati.", "success")
    return redirect(url_for("admin.captured"))


def _disposition(filename: str) -> str:
    """Content-Disposition: attachment with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    from ..web import content_disposition

    return content_disposition(filename)
