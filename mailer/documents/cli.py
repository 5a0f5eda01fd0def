"""Commands of the documents area: FatturaPA import, spool folder, PDF rendering."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

spool_cli = AppGroup("spool", help="Cartella di spool del gestionale.")
pdf_cli = AppGroup("pdf", help="PDF dei documenti.")


@click.command("import-fatturapa")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Una riga JSON per documento.")
@click.option(
    "--replace",
    is_flag=True,
    help="Sostituisci i documenti con lo stesso tipo, anno e numero ma di un altro cliente o con altri totali.",
)
@with_appcontext
def import_fatturapa_command(paths, as_json, replace):
    """Import FatturaPA files (.xml, .xml.p7m); exit status 1 when any file could not be imported.

    A document that exists for another customer or with other totals is refused unless --replace.
    """
    from ..services.fatturapa import import_fatturapa_paths, public_summary

    results, ok = import_fatturapa_paths(
        list(paths), replace=replace, replace_hint="per sostituirlo ripeti il comando con --replace"
    )
    _report(
        results,
        ok,
        as_json,
        public_summary,
        lambda result: click.echo(
            f"{result['file']}: {result['document_type']} n. {result['number']} del {result['date']} "
            f"– {result['customer_name']} – totale {result['total']} {result['currency']} "
            f"({result['lines']} righe, {result['attachments']} allegati)"
        ),
    )


def _report(results: list[dict], ok: bool, as_json: bool, summary, echo_imported) -> None:
    """One line per file (JSON, an error on stderr, or `echo_imported`'s text); exit status 1 when any failed."""
    for result in results:
        if as_json:
            click.echo(json.dumps(summary(result), ensure_ascii=False))
        elif "error" in result:
            click.echo(f"ERRORE {result['file']}: {result['error']}", err=True)
        else:
            echo_imported(result)
    sys.exit(0 if ok else 1)


@spool_cli.command("import")
@click.option("--json", "as_json", is_flag=True, help="Stampa il resoconto in JSON.")
def spool_import_command(as_json):
    """Import now what is ready in the spool folder (exit 1 when a file went to error/)."""
    from ..services.spool import import_spool

    report = import_spool()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        if report.skipped_busy:
            click.echo("Un'altra importazione è in corso: riprova tra poco.")
        for item in report.imported:
            click.echo(
                f"importato {item['file']}: {item['type']} n. {item['number']}"
                f"{' (già presente)' if item.get('already_imported') else ''}"
            )
        for item in report.errors:
            click.echo(f"ERRORE {item['file']}: {item['error']}", err=True)
        click.echo(
            f"{len(report.imported)} importati, {len(report.errors)} in errore, {report.resumed} ripresi."
        )
    sys.exit(1 if report.errors else 0)


@spool_cli.command("status")
def spool_status_command():
    """Show the spool folder and its counts."""
    from ..services.spool import spool_status

    click.echo(json.dumps(spool_status(), ensure_ascii=False, indent=2))


@pdf_cli.command("render")
@click.option("--all-missing", is_flag=True, help="Tutti i documenti senza PDF.")
@click.argument("ids", nargs=-1, type=int)
def pdf_render_command(all_missing, ids):
    """Render and store the missing PDFs of the given documents."""
    from ..extensions import db
    from ..models import Document
    from ..pdf import ensure_pdfs

    if all_missing:
        ids = list(db.session.scalars(db.select(Document.id).where(Document.pdf_sha256.is_(None))))
    result = ensure_pdfs(list(ids))
    click.echo(f"{len(result)} documenti con PDF.")


def register(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(import_fatturapa_command)
    app.cli.add_command(import_sdi_command)
    app.cli.add_command(spool_cli)
    app.cli.add_command(pdf_cli)


@click.command("import-sdi")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Una riga JSON per file.")
@with_appcontext
def import_sdi_command(paths, as_json):
    """Import SdI notifications (RC, MC, NS, NE, DT, AT; .xml, .xml.p7m); exit status 1 when any file failed."""
    from ..services.sdi import import_sdi_paths, label, public_summary

    results, ok = import_sdi_paths(list(paths), source="cli")

    def echo_imported(result: dict) -> None:
        docs = ", ".join(str(i) for i in result["documents"]) or "nessun documento"
        extra = " (già importata)" if result["duplicate"] else ""
        click.echo(
            f"{result['file']}: {result['kind']} {label(result['kind'])} – SdI {result['sdi_id']} – "
            f"fattura {result['invoice_file']} – documenti: {docs}{extra}"
        )
        for error in result.get("errors", []):
            click.echo(f"  {error['code']}: {error['description']}")

    _report(results, ok, as_json, public_summary, echo_imported)
