"""Amministrazione › Certificati PEC: the trust store of PEC providers' certificates (upload PEM/DER, list,
remove; audited). A PEC receipt changes a delivery only when its signature chains to one of these."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db
from ..models import PecTrustedCertificate, utcnow
from ..security import require_roles
from ..services import pec_trust

bp = Blueprint("pec_certificates", __name__)


@bp.before_request
def admins_only():
    """Only administrators manage whom the receipts may come from."""
    require_roles("admin")


def _page(error: str = "", status: int = 200):
    """The list with the upload form (and the upload's error next to its field)."""
    return render_template(
        "pec_certificates/index.html",
        certificates=pec_trust.trusted_certificates(),
        error=error,
        now=utcnow(),
    ), status


@bp.route("/", methods=["GET", "POST"])
def index():
    """The store; POST adds the certificates of an uploaded PEM or DER file."""
    if request.method == "GET":
        return _page()
    upload = request.files.get("certificate")
    if upload is None or not upload.filename:
        return _page("Scegli un file di certificato (.pem, .crt, .cer o .der).", 422)
    try:
        added, present = pec_trust.add_certificates(upload.read(pec_trust.MAX_CERT_FILE + 1), current_user)
    except pec_trust.TrustStoreError as exc:
        db.session.rollback()
        return _page(f"«{upload.filename}»: {exc}", 422)
    db.session.commit()
    if added:
        flash(
            ("Aggiunti i certificati: " if len(added) > 1 else "Aggiunto il certificato: ")
            + "; ".join(c.subject for c in added),
            "success",
        )
    if present:
        flash(f"Già presente: {'; '.join(c.subject for c in present)}", "info")
    return redirect(url_for("pec_certificates.index"))


@bp.route("/<int:certificate_id>/rimuovi", methods=["POST"])
def remove(certificate_id: int):
    """Take a certificate out of the store (receipts already applied stay as they are)."""
    row = db.session.get(PecTrustedCertificate, certificate_id) or abort(404)
    subject = row.subject
    pec_trust.remove_certificate(row)
    db.session.commit()
    flash(
        f"Certificato rimosso: {subject}. Le ricevute future firmate solo da esso saranno «sospette».",
        "success",
    )
    return redirect(url_for("pec_certificates.index"))
