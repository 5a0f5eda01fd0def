"""`flask --app app receipts import FILE... [--json]` and `receipts poll`: the same code as the mailbox reader."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

receipts_cli = AppGroup("receipts", help="Ricevute PEC e rimbalzi.")


@receipts_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Un oggetto JSON per file, uno per riga.")
def import_command(files, as_json):
    """Import saved messages (.eml): PEC receipts and bounces are applied to their deliveries."""
    from ..models import TRUST_STATUSES
    from ..services.tracking import inbound_max_bytes, record_message

    failed = False
    for path in files:
        try:
            if path.stat().st_size > inbound_max_bytes():
                raise OSError(
                    f"file troppo grande (oltre {inbound_max_bytes() // 1048576} MB, INBOUND_MAX_BYTES)"
                )
            raw = path.read_bytes()
        except OSError as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"{path}: non leggibile ({exc})", err=True)
            continue
        result = record_message(raw, source="file", file_name=path.name)
        receipt = result.receipt
        record = {
            "file": str(path),
            "kind": receipt.kind,
            "receipt_type": receipt.receipt_type if receipt.kind in ("pec-receipt", "bounce") else None,
            "message_id": receipt.referenced_message_id or None,
            "delivery": receipt.delivery_id,
            "signature_verified": bool(receipt.signature_verified),
            "outcome": receipt.outcome,
            "duplicate": result.duplicate,
            # PEC receipts: is the signer in the trust store (TRUST_STATUSES), who signed, why «sospetta».
            "trust": receipt.trust_status or None,
            "genuine": receipt.trust_status == "trusted",
            "signer": receipt.signer or None,
            "suspect_reasons": receipt.notes.split("; ")
            if receipt.outcome == "suspect" and receipt.notes
            else [],
        }
        if receipt.kind == "bounce":
            # Which recipients failed, with their status code, and whether it is final.
            record["recipients"] = list(receipt.bounce_recipients or [])
            record["permanent"] = receipt.receipt_type == "permanent"
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            where = f"recapito {receipt.delivery_id}" if receipt.delivery_id else "nessun recapito"
            bounced = ", ".join(
                f"{r['address']} ({r['status'] or '?'}, {'definitivo' if r['action'] == 'failed' else 'temporaneo'})"
                for r in receipt.bounce_recipients or []
            )
            click.echo(
                f"{path}: {receipt.label}{' · ' + bounced if bounced else ''} · {where} · {receipt.outcome}"
                f"{' (già importato)' if result.duplicate else ''}"
                f" · firma {'verificata' if receipt.signature_verified else 'non verificata'}"
                f"{' · ' + TRUST_STATUSES.get(receipt.trust_status, '') if receipt.trust_status else ''}"
                f"{' · ' + receipt.notes if receipt.notes else ''}"
            )
    if failed:
        raise SystemExit(1)


@receipts_cli.command("poll")
@click.option("--account", "account_id", type=int, default=None, help="Solo questo account (id).")
def poll_command(account_id):
    """Read the accounts' IMAP folders now (what the scheduler does every few minutes)."""
    from ..services.tracking import poll_account, poll_all
    from ..transport.imap import ImapError

    try:
        report = poll_account(account_id) if account_id else poll_all()
    except ImapError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report, ensure_ascii=False))


def register(app: Flask) -> None:
    """Attach the receipts commands."""
    app.cli.add_command(receipts_cli)
