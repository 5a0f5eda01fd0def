"""Amministrazione › Posta catturata: the local capture server's messages (admin at the top clearance only)."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from ..extensions import db
from ..reference import PRIVACY_LEVELS
from ..security import clearance
from ..services.audit import audit
from ..services.pagination import page_arg, page_count
from ..transport import capture
from .blueprint import bp, wants

CAPTURED_PAGE_SIZE = 50
# The captured HTML body is shown in a sandboxed iframe with no scripts, no network, no forms.
CAPTURED_HTML_CSP = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


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
    page = page_arg(request.args.get("page"))
    items, total = capture.list_captured(
        _capture_dir(), (page - 1) * CAPTURED_PAGE_SIZE, CAPTURED_PAGE_SIZE, query
    )
    pages = page_count(total, CAPTURED_PAGE_SIZE)
    context = {
        "items": items,
        "total": total,
        "page": page,
        "pages": pages,
        "q": query,
        "capture_host": current_app.config["CAPTURE_SMTP_HOST"],
        "capture_port": current_app.config["CAPTURE_SMTP_PORT"],
    }
    if wants("captured-list"):
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
