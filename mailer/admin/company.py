"""Amministrazione › Azienda: company data used by every PDF and e-mail, the sending rules, the logo."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from ..extensions import db
from ..services import company as company_service
from ..services.blobs import load_blob
from ..services.reference import get_company
from .blueprint import bp


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
