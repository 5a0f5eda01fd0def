"""Sending accounts (ordinary SMTP and PEC): validation, saving with encrypted passwords, testing."""

from __future__ import annotations

import json

from email_validator import EmailNotValidError, validate_email

from ..extensions import db
from ..models import MailAccount
from ..transport.imap import ImapError
from ..transport.smtp_check import CheckResult, check_imap, check_smtp
from ..transport.tls import InvalidCaBundle, certificate_info, parse_ca_bundle
from . import oauth_tokens, pec_trust
from .audit import audit
from .crypto import decrypt_secret, encrypt_secret

KINDS = {"smtp": "SMTP ordinario", "pec": "PEC"}
TLS_MODES = {"none": "Nessuna (in chiaro)", "starttls": "STARTTLS", "ssl": "SSL/TLS implicito"}
IMAP_AFTER = {"seen": "Segna come letti", "move:Elaborati": "Sposta nella cartella «Elaborati»"}

# field: (label, minimum, maximum)
LIMITS = {
    "port": ("Porta", 1, 65535),
    "max_connections": ("Connessioni simultanee", 1, 50),
    "rate_per_minute": ("Messaggi al minuto", 1, 10000),
    "rate_per_day": ("Messaggi al giorno", 1, 1000000),
    "max_message_mb": ("Dimensione massima (MB)", 1, 200),
    "max_recipients": ("Destinatari per messaggio", 1, 1000),
    "imap_port": ("Porta IMAP", 1, 65535),
}
TEXT_FIELDS = (
    "name",
    "host",
    "username",
    "from_address",
    "from_name",
    "imap_host",
    "imap_username",
    "imap_folder",
    "oauth_tenant",
    "oauth_client_id",
    "oauth_endpoint",
)
# What the audit trail records about an account (never the passwords).
AUDITED = (
    "name",
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
    "max_message_bytes",
    "max_recipients",
    "imap_host",
    "imap_port",
    "imap_username",
    "imap_folder",
    "imap_after",
    "verp",
    "is_default",
    "active",
    "pec_system_domains",
    "tls_ca_pem",
    "auth_kind",
    "oauth_tenant",
    "oauth_client_id",
    "oauth_endpoint",
)


def form_values(account: MailAccount | None) -> dict:
    """Form values for an account (new accounts get sensible defaults); passwords are never included."""
    if account is None:
        return {
            **dict.fromkeys(TEXT_FIELDS, ""),
            "kind": "smtp",
            "port": 587,
            "tls_mode": "starttls",
            "max_connections": 2,
            "rate_per_minute": 60,
            "rate_per_day": 5000,
            "max_message_mb": 20,
            "max_recipients": 50,
            "imap_port": 993,
            "imap_folder": "INBOX",
            "imap_after": "seen",
            "active": True,
            "pec_system_domains": "",
            "tls_ca_pem": "",
            "auth_kind": "password",
        }
    values = {k: getattr(account, k) for k in AUDITED if k != "max_message_bytes"}
    values["max_message_mb"] = max(1, account.max_message_bytes // (1024 * 1024))
    values.update(stored_secrets(account))
    return values


def ca_bundle_summary(pem: str) -> list[str]:
    """One Italian line per certificate of a stored CA bundle (who, until when)."""
    try:
        certs = parse_ca_bundle(pem)
    except InvalidCaBundle as exc:
        return [str(exc)]
    from cryptography.hazmat.primitives.serialization import Encoding

    return [certificate_info(cert.public_bytes(Encoding.DER)).describe() for cert in certs]


def stored_secrets(account: MailAccount | None) -> dict:
    """Which secrets an account has (never their values): for the form's «salvato» notes."""
    if account is None:
        return {}
    return {
        "has_password": bool(account.password_encrypted),
        "has_imap_password": bool(account.imap_password_encrypted),
        "has_oauth_secret": bool(account.oauth_secret_encrypted),
        "has_refresh_token": bool(account.oauth_refresh_token_encrypted),
    }


def _validate_oauth(form, values: dict, errors: dict, account: MailAccount | None) -> None:
    """The authentication block: the fields each OAuth2 kind needs (secrets: given now or already stored)."""
    kind = values["auth_kind"]
    if kind not in oauth_tokens.AUTH_KINDS:
        errors["auth_kind"] = "Tipo di autenticazione non valido."
        return
    if kind == "password":
        return
    if not values["username"]:
        errors["username"] = "Con OAuth2 l'utente è l'indirizzo della casella (es. fatture@azienda.it)."
    endpoint = values["oauth_endpoint"]
    if endpoint and (not endpoint.startswith("https://") or " " in endpoint):
        errors["oauth_endpoint"] = "Serve un indirizzo https:// (vuoto: quello pubblico del fornitore)."
    secret = (form.get("oauth_secret") or "").strip()
    has_secret = bool(secret) or bool(account is not None and account.oauth_secret_encrypted)
    if kind.startswith("ms_") and (not values["oauth_tenant"] or " " in values["oauth_tenant"]):
        errors["oauth_tenant"] = (
            "Indica l'ID della directory (tenant) o il dominio, es. azienda.onmicrosoft.com."
        )
    if kind in ("ms_app", "ms_delegated", "google_delegated"):
        if not values["oauth_client_id"]:
            errors["oauth_client_id"] = "Indica l'ID dell'applicazione (client)."
        if not has_secret:
            errors["oauth_secret"] = "Inserisci il segreto del client (client secret)."
    if kind == "google_service":
        if secret:
            try:
                info = json.loads(secret)
                if not (isinstance(info, dict) and info.get("client_email") and info.get("private_key")):
                    raise ValueError
            except ValueError:
                errors["oauth_secret"] = (
                    "Incolla il file JSON della chiave del service account così com'è "
                    "(contiene «client_email» e «private_key»)."
                )
        elif not has_secret:
            errors["oauth_secret"] = "Incolla la chiave JSON del service account."
    if (
        kind == "google_delegated"
        and not (form.get("oauth_refresh_token") or "").strip()
        and not (account is not None and account.oauth_refresh_token_encrypted)
    ):
        errors["oauth_refresh_token"] = "Inserisci il refresh token ottenuto con il consenso della casella."


def validate_account(form, account: MailAccount | None, ca_upload: bytes | None = None) -> tuple[dict, dict]:
    """Check the submitted form; return (clean values, errors by field). Passwords are not in values.

    `ca_upload` (a PEM file sent with the form) replaces the text of the «tls_ca_pem» field.
    """
    values: dict = {k: (form.get(k) or "").strip() for k in TEXT_FIELDS}
    errors: dict[str, str] = {}
    values["kind"] = form.get("kind", "smtp")
    values["tls_mode"] = form.get("tls_mode", "starttls")
    values["imap_after"] = form.get("imap_after", "seen")
    values["active"] = form.get("active") in ("1", "on", "y")
    values["is_default"] = form.get("is_default") in ("1", "on", "y")
    values["verp"] = form.get("verp") in ("1", "on", "y")
    values["auth_kind"] = form.get("auth_kind", "password") or "password"
    _validate_oauth(form, values, errors, account)
    if values["kind"] not in KINDS:
        errors["kind"] = "Tipo di account non valido."
    if values["tls_mode"] not in TLS_MODES:
        errors["tls_mode"] = "Modalità TLS non valida."
    if values["imap_after"] not in IMAP_AFTER:
        errors["imap_after"] = "Scelta non valida."
    if not values["name"]:
        errors["name"] = "Dai un nome all'account (es. «Posta ordinaria»)."
    else:
        clash = db.session.scalar(db.select(MailAccount).where(MailAccount.name == values["name"]))
        if clash is not None and (account is None or clash.id != account.id):
            errors["name"] = "Esiste già un account con questo nome."
    if not values["host"]:
        errors["host"] = "Indica il server SMTP (es. smtp.provider.it)."
    elif " " in values["host"] or "/" in values["host"]:
        errors["host"] = "Solo il nome del server, senza spazi né «smtp://»."
    for key, (label, low, high) in LIMITS.items():
        raw = (form.get(key) or "").strip()
        try:
            number = int(raw)
        except ValueError:
            errors[key] = f"{label}: serve un numero intero."
            continue
        if not low <= number <= high:
            errors[key] = f"{label}: tra {low} e {high}."
        values[key] = number
    try:
        values["from_address"] = validate_email(values["from_address"], check_deliverability=False).normalized
    except EmailNotValidError:
        errors["from_address"] = "Indirizzo del mittente non valido."
    if (
        values["kind"] == "pec"
        and values["username"]
        and "@" in values["username"]
        and values["username"].lower() != values["from_address"].lower()
        and "from_address" not in errors
    ):
        errors["from_address"] = (
            "Per la PEC il mittente deve coincidere con la casella (utente) dell'account."
        )
    if values["verp"] and values["kind"] == "pec":
        errors["verp"] = (
            "Non con la PEC: il mittente della busta deve coincidere con quello del messaggio; "
            "le ricevute si abbinano per Message-ID."
        )
    # PEC: the provider's certified-system domains (receipts from elsewhere stay «sospette»); prefilled
    # with the known provider's when left empty.
    domains, problem = pec_trust.parse_domains(form.get("pec_system_domains") or "")
    if problem:
        errors["pec_system_domains"] = problem
    if values["kind"] == "pec" and not domains and "from_address" not in errors:
        domains = pec_trust.suggested_system_domains(values["from_address"])
    values["pec_system_domains"] = "\n".join(domains) if values["kind"] == "pec" else ""
    values["tls_ca_pem"] = (form.get("tls_ca_pem") or "").strip()
    if ca_upload:
        try:
            values["tls_ca_pem"] = ca_upload.decode("ascii").strip()
        except UnicodeDecodeError:
            errors["tls_ca_pem"] = (
                "Il file caricato non è un certificato PEM (testo «-----BEGIN CERTIFICATE-----»)."
            )
    if "tls_ca_pem" not in errors:
        try:
            parse_ca_bundle(values["tls_ca_pem"])
        except InvalidCaBundle as exc:
            errors["tls_ca_pem"] = str(exc)
    if values["tls_ca_pem"]:
        values["tls_ca_pem"] += "\n"
    if "max_message_mb" in values:
        values["max_message_bytes"] = values.pop("max_message_mb") * 1024 * 1024
    return values, errors


def save_account(
    account: MailAccount | None,
    values: dict,
    password: str = "",
    imap_password: str = "",
    clear_password: bool = False,
    oauth_secret: str = "",
    oauth_refresh_token: str = "",
) -> MailAccount:
    """Create or update an account (the caller commits). A blank password keeps the stored one."""
    created = account is None
    if account is None:
        account = MailAccount()
        db.session.add(account)
    before = {k: getattr(account, k, None) for k in AUDITED}
    for key, value in values.items():
        setattr(account, key, value)
    changed_secrets = []
    if password:
        account.password_encrypted = encrypt_secret(password)
        changed_secrets.append("password")
    elif clear_password:
        account.password_encrypted = ""
        changed_secrets.append("password")
    if imap_password:
        account.imap_password_encrypted = encrypt_secret(imap_password)
        changed_secrets.append("imap_password")
    if oauth_secret.strip():
        account.oauth_secret_encrypted = encrypt_secret(oauth_secret.strip())
        changed_secrets.append("oauth_secret")
    if oauth_refresh_token.strip():
        account.oauth_refresh_token_encrypted = encrypt_secret(oauth_refresh_token.strip())
        changed_secrets.append("oauth_refresh_token")
    if values.get("is_default"):
        db.session.execute(
            db.update(MailAccount).where(MailAccount.kind == values["kind"]).values(is_default=False)
        )
        account.is_default = True
    db.session.flush()
    changes = {k: [before[k], getattr(account, k)] for k in AUDITED if before[k] != getattr(account, k)}
    # The audit only says that a secret changed, never its value.
    audit(
        "account.create" if created else "account.update",
        account,
        changes=changes,
        secrets_changed=changed_secrets,
    )
    return account


def check_account(account: MailAccount, timeout: float | None = None) -> CheckResult:
    """Run "prova connessione" (SMTP, then IMAP when the account reads a mailbox) and audit the outcome."""
    import dataclasses

    from .tracking import imap_settings

    result = CheckResult()
    try:
        password = decrypt_secret(account.password_encrypted)
    except ValueError as exc:
        result.add("password", False, str(exc))
        return result
    kwargs = {"timeout": timeout} if timeout else {}
    if oauth_tokens.is_oauth(account):
        kwargs["token_provider"] = oauth_tokens.token_provider(account)
    check_smtp(
        account.host,
        account.port,
        account.tls_mode,
        account.username,
        password,
        ca_pem=account.tls_ca_pem or "",
        result=result,
        **kwargs,
    )
    if account.imap_host:
        try:
            settings = imap_settings(account)
        except ImapError as exc:
            result.add("imap_login", False, str(exc))
        else:
            if timeout:
                settings = dataclasses.replace(settings, timeout=timeout)
            check_imap(settings, account.imap_folder, result=result)
    audit("account.test", account, ok=result.ok, failed=[s.step for s in result.steps if not s.ok])
    return result
