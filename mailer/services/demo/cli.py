"""The `flask --app app demo-data` command."""

from __future__ import annotations

import click
import sqlalchemy as sa

from ...extensions import db
from ...models import Party
from .builder import build_demo_data
from .common import DemoError, DemoOptions


def register(app) -> None:
    """Add `flask --app app demo-data` to the CLI."""

    @app.cli.command("demo-data")
    @click.option(
        "--customers", default=300, show_default=True, type=click.IntRange(1, 1_000_000), help="Clienti."
    )
    @click.option(
        "--suppliers", default=60, show_default=True, type=click.IntRange(1, 100_000), help="Fornitori."
    )
    @click.option(
        "--lines",
        default=20_000,
        show_default=True,
        type=click.IntRange(100, 50_000_000),
        help="Righe di documento (circa).",
    )
    @click.option(
        "--products", default=500, show_default=True, type=click.IntRange(15, 1_000_000), help="Prodotti."
    )
    @click.option(
        "--seed", default=42, show_default=True, help="Seme del generatore: stessi dati a parità di seme."
    )
    @click.option("--reset", is_flag=True, help="Sostituisce i dati dimostrativi già caricati.")
    @click.option(
        "--if-empty", is_flag=True, help="Carica solo se non c'è nessuna anagrafica (per make run)."
    )
    def demo_data_command(customers, suppliers, lines, products, seed, reset, if_empty):
        """Build a believable Italian company (demo users, accounts on the capture server, documents)."""
        if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Party)):
            click.echo("Ci sono già delle anagrafiche: dati dimostrativi non caricati.")
            return
        password = app.config["DEMO_PASSWORD"]
        click.echo(
            f"Dati dimostrativi: {customers} clienti, {suppliers} fornitori, ~{lines} righe (seme {seed})…"
        )
        options = DemoOptions(
            customers=customers, suppliers=suppliers, lines=lines, products=products, seed=seed
        )
        try:
            report = build_demo_data(options, password, reset=reset, echo=click.echo)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        c = report.counts
        click.echo(
            f"Fatto in {report.seconds:.1f} s: {c['customers']} clienti, {c['suppliers']} fornitori, "
            f"{c['contacts']} contatti ({c['pec_contacts']} PEC, {c['contacts_without_email']} senza e-mail), "
            f"{c['products']} prodotti, {c['documents']} documenti, {c['lines']} righe."
        )
        if report.users_created:
            click.echo(f"Utenti creati (password «{password}»): {', '.join(report.users_created)}.")
        if report.users_kept:
            click.echo(f"Utenti già presenti, password non cambiata: {', '.join(report.users_kept)}.")
