"""Admin page of the API tokens (/api/v1/tokens): create (the secret is shown once), revoke."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ..extensions import db
from ..models import API_SCOPES, ApiToken, User, utcnow
from ..security import clearance, require_roles
from ..services.audit import audit
from .routes import hash_token

bp = Blueprint("api_tokens", __name__)


@bp.before_request
def admins_only():
    """Only administrators manage tokens."""
    require_roles("admin")


@bp.route("/", methods=["GET", "POST"])
def index():
    """List tokens; create one (the secret appears once, only its hash is kept)."""
    errors: dict[str, str] = {}
    secret = None
    blank: dict[str, Any] = {
        "name": "",
        "scopes": ["documents:read", "documents:write"],
        "clearance": "0",
        "user": "",
    }
    form = blank
    users = db.session.scalars(db.select(User).where(User.active.is_(True)).order_by(User.username)).all()
    if request.method == "POST":
        form = {
            "name": request.form.get("name", "").strip(),
            "scopes": request.form.getlist("scopes"),
            "clearance": request.form.get("clearance", "0"),
            "user": request.form.get("user", "").strip(),
        }
        if not form["name"]:
            errors["name"] = "Indica un nome (es. «Gestionale sede»)."
        elif len(form["name"]) > 120:
            errors["name"] = "Al massimo 120 caratteri."
        if not form["scopes"] or any(s not in API_SCOPES for s in form["scopes"]):
            errors["scopes"] = "Scegli almeno un ambito."
        if form["clearance"] not in ("0", "1", "2", "3"):
            errors["clearance"] = "Livello da 0 a 3."
        elif int(form["clearance"]) > clearance():
            errors["clearance"] = "Non puoi dare a un token un livello superiore al tuo."
        acting = next((u for u in users if str(u.id) == form["user"]), None)
        if form["user"] and acting is None:
            errors["user"] = "Scegli un utente attivo dall'elenco."
        elif acting is None and any(s.startswith("batches:") for s in form["scopes"]):
            errors["user"] = "Gli ambiti degli invii richiedono l'utente per conto del quale il token agisce."
        if not errors:
            secret = "rk_" + secrets.token_urlsafe(32)
            token = ApiToken(
                name=form["name"],
                token_hash=hash_token(secret),
                prefix=secret[:10],
                scopes=",".join(s for s in API_SCOPES if s in form["scopes"]),
                privacy_clearance=int(form["clearance"]),
                created_by_id=_user_id(),
                user_id=acting.id if acting else None,
            )
            db.session.add(token)
            db.session.flush()
            audit(
                "api_token.create",
                token,
                name=token.name,
                scopes=token.scopes,
                privacy_clearance=token.privacy_clearance,
                acting_user=acting.username if acting else None,
            )
            db.session.commit()
            form = blank
    tokens = (
        db.session.scalars(db.select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))
        .unique()
        .all()
    )
    status = 422 if errors else 200
    return render_template(
        "api/tokens.html",
        tokens=tokens,
        scopes=API_SCOPES,
        errors=errors,
        form=form,
        secret=secret,
        users=users,
    ), status


@bp.route("/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    """Revoke a token: it stops working at once."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404)
    if token.active:
        token.active = False
        token.revoked_at = utcnow()
        audit("api_token.revoke", token, name=token.name)
        db.session.commit()
        flash(f"Token «{token.name}» revocato.", "success")
    return redirect(url_for("api_tokens.index"))


def _user_id() -> int | None:
    """The current user's id."""
    from flask_login import current_user

    return current_user.id if current_user.is_authenticated else None
