"""The admin blueprint (admin role only) with its home page; each sub-area adds its views in its own module."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..extensions import htmx
from ..security import require_roles

bp = Blueprint("admin", __name__)


@bp.before_request
def admins_only():
    """Every admin page needs the admin role."""
    require_roles("admin")


def wants(target: str) -> bool:
    """True when the htmx request asks for this fragment (by target id)."""
    return bool(htmx) and htmx.target == target


@bp.route("/")
def index():
    """Administration home."""
    return render_template("admin/index.html")
