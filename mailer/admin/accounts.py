"""Amministrazione › Account di invio: sending accounts, connection test, OAuth authorisation."""

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

from ..extensions import db, htmx
from ..models import MailAccount
from ..services import accounts as account_service
from ..services import oauth_tokens
from ..services import presets as preset_service
from ..services.audit import audit
from .blueprint import bp


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
