"""CLI: `flask --app app import-parties FILE`, `flask --app app import-contacts FILE`, and
`flask --app app tables list|add` for the zones, agents and categories those imports refer to."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from ..extensions import db


def _run(kind: str, path: str, dry_run: bool, username: str | None) -> None:
    """Import a file and print the report; exit 1 when the file has bad rows."""
    from ..models import User
    from ..services.party_import import ImportFileError, run_import

    user = None
    clearance = 3  # the command line is the server's administrator
    if username:
        user = db.session.scalar(db.select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"Utente «{username}» inesistente.")
        clearance = user.privacy_clearance
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        report = run_import(
            kind, data, os.path.basename(path), user=user, clearance=clearance, dry_run=dry_run
        )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if report.ignored_columns:
        click.echo(f"Colonne ignorate: {', '.join(report.ignored_columns)}")
    for error in report.errors:
        click.echo(f"Riga {error.line}: {'; '.join(error.reasons)}", err=True)
    if report.errors:
        click.echo(
            f"{len(report.errors)} righe con errori su {report.rows}: nessuna modifica scritta.", err=True
        )
        raise SystemExit(1)
    verb = "Verifica riuscita (nessuna modifica scritta)" if dry_run else "Import completato"
    click.echo(
        f"{verb}: {report.rows} righe, {report.created} nuove, {report.updated} da aggiornare"
        if dry_run
        else f"{verb}: {report.rows} righe, {report.created} nuove, {report.updated} aggiornate, "
        f"{report.unchanged} invariate."
    )


@click.command("import-parties")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Controlla il file e mostra gli errori senza scrivere nulla.")
@click.option("--user", "username", default=None, help="Importa a nome di questo utente (registro attività).")
def import_parties_command(path, dry_run, username):
    """Import customers/suppliers from a CSV or XLSX file (update-or-insert by ERP code)."""
    _run("parties", path, dry_run, username)


@click.command("import-contacts")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Controlla il file e mostra gli errori senza scrivere nulla.")
@click.option(
    "--user",
    "username",
    default=None,
    help="Importa a nome di questo utente (registro attività e suo livello di riservatezza).",
)
def import_contacts_command(path, dry_run, username):
    """Import contacts from a CSV or XLSX file (parties must exist)."""
    _run("contacts", path, dry_run, username)


tables_cli = AppGroup("tables", help="Zone, agenti e categorie delle anagrafiche.")
TABLE_KEYS = click.Choice(["zones", "agents", "categories"])


@tables_cli.command("list")
@click.argument("kind", type=TABLE_KEYS)
def tables_list_command(kind):
    """Print the rows of a table: code, name (e-mail for agents) and how many parties use each."""
    from ..services import classification

    t = classification.table(kind)
    assert t is not None  # click.Choice allows only the known keys
    for entry in classification.entries(t):
        email = f"\t{entry.row.email}" if t.has_email else ""
        click.echo(f"{entry.row.code}\t{entry.row.name}{email}\t{entry.parties}")


@tables_cli.command("add")
@click.argument("kind", type=TABLE_KEYS)
@click.argument("code")
@click.argument("name")
@click.option("--email", default="", help="E-mail dell'agente.")
def tables_add_command(kind, code, name, email):
    """Add a zone, agent or category (same checks and audit as the admin page)."""
    from ..services import classification

    t = classification.table(kind)
    assert t is not None  # click.Choice allows only the known keys
    row, errors = classification.create_entry(t, code, name, email)
    if errors:
        db.session.rollback()
        raise click.ClickException(" ".join(errors.values()))
    db.session.commit()
    click.echo(f"{t.noun.capitalize()} «{row.code}» aggiunt{t.ending}.")


def register(app: Flask) -> None:
    """Attach the import commands and the tables group."""
    app.cli.add_command(import_parties_command)
    app.cli.add_command(import_contacts_command)
    app.cli.add_command(tables_cli)
