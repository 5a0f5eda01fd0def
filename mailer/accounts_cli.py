"""`flask --app app accounts list [--json]`, `accounts add ...` and `accounts test NAME [--json]`.

`add` goes through the same validation and saving as the form; secrets only from standard input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

accounts_cli = AppGroup("accounts", help="Account di invio (SMTP/PEC).")

# option name -> form field (every setting of the form can be given)
_OPTIONS = (
    "kind",
    "host",
    "port",
    "tls_mode",
    "username",
    "from_address",
    "from_name",
    "max_connections",
    "rate_per_minute",
    "rate_per_day",
    "max_message_mb",
    "max_recipients",
    "imap_host",
    "imap_port",
    "imap_username",
    "imap_folder",
    "imap_after",
    "auth_kind",
    "oauth_tenant",
    "oauth_client_id",
    "oauth_endpoint",
)


def _account_row(account) -> dict:
    """What `list` shows of an account (never a secret)."""
    row = {
        "id": account.id,
        "name": account.name,
        "kind": account.kind,
        "host": account.host,
        "port": account.port,
        "tls_mode": account.tls_mode,
        "username": account.username,
        "from_address": account.from_address,
        "active": account.active,
        "is_default": account.is_default,
        "imap_host": account.imap_host or None,
        "tls_ca": bool((account.tls_ca_pem or "").strip()),
        "has_password": bool(account.password_encrypted),
    }
    if hasattr(account, "auth_kind"):
        row["auth_kind"] = account.auth_kind
    return row


@accounts_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Elenco in JSON.")
def list_command(as_json):
    """List the sending accounts."""
    from .extensions import db
    from .models import MailAccount

    rows = [_account_row(a) for a in db.session.scalars(db.select(MailAccount).order_by(MailAccount.name))]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("Nessun account: aggiungine uno con «accounts add».")
    for r in rows:
        flags = ", ".join(
            f
            for f, on in (
                ("predefinito", r["is_default"]),
                ("disattivato", not r["active"]),
                ("CA propria", r["tls_ca"]),
            )
            if on
        )
        click.echo(
            f"{r['name']} [{r['kind']}] {r['host']}:{r['port']} {r['tls_mode']} "
            f"utente «{r['username']}» mittente {r['from_address']}" + (f" ({flags})" if flags else "")
        )


@accounts_cli.command("add")
@click.option("--name", required=True, help="Nome dell'account.")
@click.option(
    "--preset",
    default="",
    help="Fornitore: compila server, porta, sicurezza e limiti "
    "(microsoft365, google, aruba, aruba_pec, register, register_pec, legalmail, poste_pec, namirial_pec, "
    "generic).",
)
@click.option("--kind", type=click.Choice(["smtp", "pec"]), default=None)
@click.option("--host", default=None)
@click.option("--port", default=None)
@click.option("--tls-mode", type=click.Choice(["none", "starttls", "ssl"]), default=None)
@click.option("--username", default=None)
@click.option("--from-address", default=None)
@click.option("--from-name", default=None)
@click.option("--max-connections", default=None)
@click.option("--rate-per-minute", default=None)
@click.option("--rate-per-day", default=None)
@click.option("--max-message-mb", default=None)
@click.option("--max-recipients", default=None)
@click.option("--imap-host", default=None)
@click.option("--imap-port", default=None)
@click.option("--imap-username", default=None)
@click.option("--imap-folder", default=None)
@click.option("--imap-after", default=None, help="seen | move:<cartella>")
@click.option(
    "--pec-system-domain", "pec_domains", multiple=True, help="Dominio del sistema PEC (ripetibile)."
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Certificati della CA (PEM) di un server interno: salvati con l'account.",
)
@click.option("--verp/--no-verp", default=False, help="Indirizzo di ritorno per recapito (solo ordinari).")
@click.option("--default", "is_default", is_flag=True, help="Predefinito per il suo tipo.")
@click.option("--inactive", is_flag=True, help="Crea l'account disattivato.")
@click.option(
    "--auth-kind",
    type=click.Choice(["password", "ms_app", "ms_delegated", "google_service", "google_delegated"]),
    default=None,
    help="Autenticazione: password, oppure OAuth2 (XOAUTH2) di Microsoft 365 o Google.",
)
@click.option("--oauth-tenant", default=None, help="Microsoft 365: ID della directory (tenant) o dominio.")
@click.option("--oauth-client-id", default=None, help="ID dell'applicazione (client).")
@click.option(
    "--oauth-endpoint", default=None, help="Authority o token endpoint (vuoto: quello del fornitore)."
)
@click.option(
    "--oauth-secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File con il segreto del client, la chiave JSON del service account o il certificato PEM.",
)
@click.option(
    "--oauth-refresh-token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Google delegato: file con il refresh token.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Legge la password SMTP dalla prima riga dello standard input e, se c'è, quella IMAP dalla seconda.",
)
def add_command(
    name,
    preset,
    pec_domains,
    ca_file,
    verp,
    is_default,
    inactive,
    password_stdin,
    oauth_secret_file,
    oauth_refresh_token_file,
    **options,
):
    """Add a sending account (the same checks as the form); secrets never on the command line."""
    from .extensions import db
    from .models import MailAccount
    from .services import accounts as account_service
    from .services import presets

    if preset and presets.get_preset(preset) is None:
        raise click.BadParameter(
            f"fornitore sconosciuto; scegli tra {', '.join(presets.PRESETS)}", param_hint="--preset"
        )
    form = {k: "" if v is None else str(v) for k, v in account_service.form_values(None).items()}
    form = {
        k: str(v) for k, v in presets.apply_preset(form, preset, hasattr(MailAccount, "auth_kind")).items()
    }
    form.update({k: str(v) for k, v in options.items() if v is not None and k in _OPTIONS})
    form["name"] = name
    if pec_domains:
        form["pec_system_domains"] = "\n".join(pec_domains)
    form["active"] = "" if inactive else "1"
    form["is_default"] = "1" if is_default else ""
    form["verp"] = "1" if verp else ""
    password = imap_password = ""
    if password_stdin:
        lines = sys.stdin.read().splitlines()
        password = lines[0] if lines else ""
        imap_password = lines[1] if len(lines) > 1 else ""
    # OAuth2 secrets from files (never on the command line); the form's checks read them as typed.
    form["oauth_secret"] = oauth_secret_file.read_text(encoding="utf-8").strip() if oauth_secret_file else ""
    form["oauth_refresh_token"] = (
        oauth_refresh_token_file.read_text(encoding="utf-8").strip() if oauth_refresh_token_file else ""
    )
    upload = ca_file.read_bytes() if ca_file else None
    values, errors = account_service.validate_account(form, None, ca_upload=upload)
    if errors:
        for field, message in errors.items():
            click.echo(f"--{field.replace('_', '-')} ({field}): {message}", err=True)
        raise click.ClickException("Account non creato: correggi i valori indicati.")
    account = account_service.save_account(
        None,
        values,
        password=password,
        imap_password=imap_password,
        oauth_secret=form["oauth_secret"],
        oauth_refresh_token=form["oauth_refresh_token"],
    )
    db.session.commit()
    click.echo(
        f"Account «{account.name}» creato ({account.host}:{account.port}, {account.tls_mode}). "
        f'Provalo con: flask --app app accounts test "{account.name}"'
    )


@accounts_cli.command("test")
@click.argument("name")
@click.option(
    "--json", "as_json", is_flag=True, help='{"ok": bool, "steps": [{"step", "ok", "detail", ...}]}'
)
@click.option("--timeout", default=None, type=float, help="Secondi di attesa per ogni passo.")
def test_command(name, as_json, timeout):
    """«Prova connessione» for an account: every step with its answer; exit code 1 when one fails."""
    from .extensions import db
    from .models import MailAccount
    from .services import accounts as account_service

    account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == name))
    if account is None:
        raise click.ClickException(f"Nessun account «{name}» (vedi «accounts list»).")
    result = account_service.check_account(account, timeout=timeout)
    db.session.commit()  # the audit event
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        for step in result.steps:
            click.echo(f"[{'OK' if step.ok else 'ERRORE'}] {step.label}: {step.detail}")
            if step.hint:
                click.echo(f"    Cosa fare: {step.hint}")
        click.echo(result.summary)
    sys.exit(0 if result.ok else 1)


def register(app: Flask) -> None:
    """Attach the `accounts` commands."""
    app.cli.add_command(accounts_cli)
