"""Amministrazione › Utenti: users with roles, send permissions and clearance; new, edit, password."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db
from ..models import DocumentType, User
from ..reference import PRIVACY_LEVELS, ROLES
from ..security import clearance
from ..services.audit import audit
from ..services.users import create_user, set_password, update_user, validate_new_password
from .blueprint import bp, wants


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
    inline = wants(f"user-{user.id}")
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
        reloaded = db.session.get(User, user_id)
        assert reloaded is not None  # loaded above; the rollback only undid the changes
        context = _user_form_context(reloaded, values, {"form": str(exc)})
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
    if not wants(f"user-{user.id}"):
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
