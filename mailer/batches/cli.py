"""`flask --app app batch ...`: prepare, approve, send and report with the same rules as the UI."""

from __future__ import annotations

import json
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..extensions import db
from ..models import Batch, User

batch_cli = AppGroup("batch", help="Invii: prepara, approva, invia, esiti.")


def _user(username: str) -> User:
    """The user the command acts as."""
    user = db.session.scalar(db.select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active:
        raise click.ClickException(f"Utente «{username}» inesistente o disattivato.")
    return user


def _batch(batch_id: int) -> Batch:
    """A batch by id."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise click.ClickException(f"Invio {batch_id} inesistente.")
    return batch


@batch_cli.command("prepare")
@click.option(
    "--type", "types", multiple=True, required=True, help="Tipo di documento (ripetibile), es. FATTURA."
)
@click.option("--from", "date_from", default=None, help="Dal (AAAA-MM-GG).")
@click.option("--to", "date_to", default=None, help="Al (AAAA-MM-GG).")
@click.option("--user", "username", required=True, help="Utente che prepara.")
@click.option("--all", "include_sent", is_flag=True, help="Anche i documenti già inviati.")
@click.option("--json", "as_json", is_flag=True, help="Stampa un oggetto JSON.")
def prepare_command(types, date_from, date_to, username, include_sent, as_json):
    """Prepare a batch now (in this process) and print its id."""
    from ..services import approval, batch_views, preparation

    user = _user(username)
    try:
        selection = preparation.Selection(
            type_codes=[t.strip().upper() for t in types],
            date_from=preparation.parse_date(date_from, "--from"),
            date_to=preparation.parse_date(date_to, "--to"),
            only_unsent=not include_sent,
        )
        batch = preparation.create_batch(selection, user, enqueue=False)
    except preparation.PreparationError as exc:
        raise click.ClickException(str(exc)) from exc
    batch = preparation.run_preparation(batch.id)
    resends = approval.resend_count(batch.id)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "batch": batch.id,
                    "status": batch.status,
                    "counts": batch_views.counts(batch.id),
                    "resends": resends,
                }
            )
        )
    else:
        click.echo(batch.id)
        if resends:
            click.echo(
                f"Attenzione: {resends} messaggi con documenti già inviati (approva con --confirm-resend).",
                err=True,
            )


@batch_cli.command("approve")
@click.argument("batch_id", type=int)
@click.option("--user", "username", required=True, help="Utente che approva.")
@click.option("--confirm-resend", is_flag=True, help="Conferma il reinvio dei documenti già inviati.")
def approve_command(batch_id, username, confirm_resend):
    """Approve a prepared batch (permissions and four-eyes apply; re-sends need --confirm-resend)."""
    from ..services import approval

    try:
        approval.approve_batch(_batch(batch_id), _user(username), confirm_resend=confirm_resend)
    except approval.ResendNotConfirmed as exc:
        raise click.ClickException(f"{exc} Da riga di comando: aggiungi --confirm-resend.") from exc
    except approval.ApprovalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Invio {batch_id} approvato.")


@batch_cli.command("discard")
@click.argument("batch_id", type=int)
@click.option(
    "--user", "username", required=True, help="Utente che scarta (chi l'ha preparato o un responsabile)."
)
def discard_command(batch_id, username):
    """Discard a batch waiting for approval: nothing leaves, its documents are free again."""
    from ..services import approval

    try:
        approval.discard_batch(_batch(batch_id), _user(username))
    except approval.ApprovalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Invio {batch_id} scartato.")


@batch_cli.command("send")
@click.argument("batch_id", type=int)
@click.option("--wait", is_flag=True, help="Attende la fine, eseguendo i lavori anche qui se serve.")
@click.option("--timeout", default=3600, show_default=True, help="Secondi massimi di attesa.")
def send_command(batch_id, wait, timeout):
    """Start sending an approved batch."""
    from ..services import sending

    batch = _batch(batch_id)
    try:
        sending.start_sending(batch)
    except sending.SendingError as exc:
        raise click.ClickException(str(exc)) from exc
    if not wait:
        click.echo(f"Invio {batch_id} avviato.")
        return
    status = _wait(batch_id, timeout)
    click.echo(f"Invio {batch_id}: {status}.")
    if status not in ("done", "cancelled"):
        raise SystemExit(1)


def _wait(batch_id: int, timeout: float) -> str:
    """Work the queue in this process until the batch leaves 'sending' (or the timeout)."""
    from rq import Queue

    from ..jobs.worker import AppWorker
    from ..queue import get_redis

    redis = get_redis()
    queue = Queue(current_app.config["RQ_QUEUE"], connection=redis)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        AppWorker([queue], connection=redis).work(burst=True, with_scheduler=True, logging_level="WARNING")
        db.session.remove()
        status = db.session.scalar(db.select(Batch.status).where(Batch.id == batch_id))
        if status != "sending":
            return status
        time.sleep(0.5)
    return "sending"


@batch_cli.command("report")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Un oggetto JSON per recapito.")
def report_command(batch_id, as_json):
    """Print the outcome of every delivery."""
    from ..services import batch_views

    _batch(batch_id)
    for record in batch_views.report_records(batch_id):
        if as_json:
            click.echo(
                json.dumps(
                    {
                        k: record[k]
                        for k in (
                            "recipient",
                            "status",
                            "account",
                            "attempts",
                            "smtp_code",
                            "reason",
                            "message_id",
                            "message_date",
                        )
                    },
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(
                f"{record['status']:<10} {record['recipient']:<40} {record['account']:<14} "
                f"{record['smtp_code'] or '':<4} {record['reason']}"
            )


@batch_cli.command("summary")
@click.argument("batch_id", type=int)
@click.option(
    "--json", "as_json", is_flag=True, help="Un oggetto JSON: stato, motivo, destinatari e Message-ID."
)
@click.option(
    "--resend", is_flag=True, help="Invia di nuovo un riepilogo non inviato (a chi non l'ha ricevuto)."
)
def summary_command(batch_id, as_json, resend):
    """Show the state of the end-of-batch summary e-mail, or send it again."""
    from ..models import SUMMARY_STATES
    from ..services import batch_summary, sending

    batch = _batch(batch_id)
    if resend:
        try:
            batch_summary.resend_summary(batch)
        except sending.SendingError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Riepilogo dell'invio {batch_id} rimesso in coda.")
        return
    readers = batch.summary_messages or {}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "status": batch.summary_status,
                    "error": batch.summary_error,
                    "attempts": batch.summary_attempts,
                    "sent_at": batch.summary_sent_at.isoformat() if batch.summary_sent_at else None,
                    "readers": {
                        address: {k: entry.get(k) for k in ("name", "status", "message_id", "code", "reason")}
                        for address, entry in readers.items()
                    },
                },
                ensure_ascii=False,
            )
        )
        return
    click.echo(
        f"Riepilogo: {SUMMARY_STATES.get(batch.summary_status, batch.summary_status or 'non ancora')}"
        f" ({batch.summary_attempts} tentativi)"
    )
    if batch.summary_error:
        click.echo(batch.summary_error)
    for address, entry in readers.items():
        click.echo(
            f"  {entry.get('status', ''):<10} {entry.get('name', '')} <{address}> {entry.get('message_id', '')}"
        )


def register(app: Flask) -> None:
    """Attach the batch commands."""
    app.cli.add_command(batch_cli)
