"""Administration: users, company, sending accounts, captured mail."""
from __future__ import annotations

from flask import Blueprint, render_template

from ..security import require_roles

bp = Blueprint("admin", __name__)


@bp.before_request
def admins_only():
    """Every admin page needs the admin role."""
    require_roles("admin")


@bp.route("/")
def index():
    """Administration home."""
    return render_template("admin/index.html")
