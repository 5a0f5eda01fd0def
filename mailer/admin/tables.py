"""Amministrazione › Tabelle: zones, agents and party categories."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ..extensions import db
from ..services import classification
from .blueprint import bp


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
