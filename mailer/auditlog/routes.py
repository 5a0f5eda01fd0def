"""The audit log: who did what and when — filterable, paged, exportable (administrators only)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, render_template, request

from ..extensions import db, htmx
from ..security import require_roles
from ..services import audit_log as svc
from ..services.audit import audit
from ..services.spreadsheets import to_csv, to_xlsx

bp = Blueprint("auditlog", __name__)


@bp.before_request
def admins_only():
    """Only administrators read the audit trail."""
    require_roles("admin")


@bp.route("/")
def index():
    """Events newest first with filters (user, action, period, object); the table is also a fragment."""
    filters = svc.AuditFilters.from_args(request.args)
    result = svc.search_events(filters)
    context = {
        "filters": filters,
        "result": result,
        "action_label": svc.action_label,
        "details_label": svc.details_label,
        "object_type_label": svc.object_type_label,
    }
    if htmx and htmx.target == "audit-results":
        return render_template("auditlog/_results.html", **context)
    return render_template("auditlog/index.html", choices=svc.filter_choices(), **context)


@bp.route("/export.<fmt>")
def export(fmt: str):
    """The filtered events as CSV or XLSX; the export itself is audited."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    filters = svc.AuditFilters.from_args(request.args)
    rows = svc.export_rows(filters)
    audit("audit.export", None, format=fmt, rows=len(rows), filters=filters.to_args(page=None))
    db.session.commit()
    name = f"registro-{datetime.now().astimezone().strftime('%Y%m%d-%H%M')}.{fmt}"
    if fmt == "csv":
        body, mimetype = to_csv(svc.EXPORT_HEADER, rows), "text/csv"  # Werkzeug adds "; charset=utf-8"
    else:
        body = to_xlsx(svc.EXPORT_HEADER, rows, "Registro")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
