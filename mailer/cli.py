"""Command-line commands: `flask --app app <command>`."""

from __future__ import annotations

import socket
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from .extensions import db
from .reference import ROLE_NAMES

users_cli = AppGroup("users", help="Gestione utenti.")


@users_cli.command("create")
@click.argument("username")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Password (chiesta se manca)."
)
@click.option("--full-name", default="", help="Nome e cognome.")
@click.option("--email", default="", help="Indirizzo e-mail.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(list(ROLE_NAMES)),
    default=["admin"],
    show_default=True,
    help="Ruolo (ripetibile).",
)
@click.option(
    "--clearance", default=3, show_default=True, type=click.IntRange(0, 3), help="Livello di riservatezza."
)
@click.option(
    "--all-types/--no-types", default=True, show_default=True, help="Può inviare ogni tipo di documento."
)
def create_user_command(username, password, full_name, email, roles, clearance, all_types):
    """Create a user (the first admin, typically)."""
    from .models import DocumentType
    from .services.reference import ensure_reference_data
    from .services.users import create_user, validate_new_password

    ensure_reference_data()
    problem = validate_new_password(password)
    if problem:
        raise click.ClickException(problem)
    types = [t.code for t in db.session.scalars(db.select(DocumentType))] if all_types else []
    try:
        user = create_user(
            username,
            password,
            full_name=full_name,
            email=email,
            roles=list(roles),
            clearance=clearance,
            send_types=types,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Utente «{user.username}» creato con ruoli: {', '.join(user.role_list)}.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Esegue i lavori in coda e termina.")
@click.option("--name", default=None, help="Nome del worker (predefinito: host e pid).")
@click.option("--with-scheduler/--without-scheduler", default=True, help="Esegue anche i lavori pianificati.")
def worker_command(burst, name, with_scheduler):
    """Run an RQ worker with the application context (start more on other hosts)."""
    from .jobs.worker import run_worker

    ok = run_worker(burst=burst, name=name, with_scheduler=with_scheduler)
    sys.exit(0 if ok else 1)


@click.command("seed")
def seed_command():
    """Insert the reference data (document types, contact functions, company)."""
    from .services.reference import ensure_reference_data

    ensure_reference_data()
    click.echo("Dati di riferimento presenti.")


@click.command("wait-for-port")
@click.argument("host")
@click.argument("port", type=int)
@click.option("--timeout", default=10.0)
def wait_for_port_command(host, port, timeout):
    """Wait until a TCP port answers (used by the run script)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"{host}:{port} non risponde dopo {timeout} s.")


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(wait_for_port_command)
    for extra in CLI_MODULES:
        import importlib

        module = importlib.import_module(extra)
        module.register(app)


# Modules of other areas that add commands: each has `register(app)`.
CLI_MODULES: list[str] = [
    "mailer.jobs.periodic",
    "mailer.batches.cli",
    "mailer.documents.cli",
    "mailer.contacts.cli",
    "mailer.transport.capture",
    "mailer.services.demo",
    "mailer.tracking.cli",
    "mailer.accounts_cli",
]
