"""OAuth2 access tokens for XOAUTH2 (SMTP and IMAP): Microsoft 365 through MSAL, Google through google-auth.

Tokens are cached in Redis (encrypted with the key of the account passwords) and shared by every
worker on any host; a token is fetched again OAUTH_REFRESH_MARGIN seconds before it expires. A Redis
lock makes concurrent workers fetch it once. Errors become `OAuthError` with an Italian message that
says what to fix; secrets never appear in messages or logs.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
import re
import time
import warnings

import requests
from flask import current_app
from redis.exceptions import RedisError

from ..models import MailAccount
from ..queue import get_redis
from ..transport.xoauth2 import OAuthError
from .crypto import decrypt_secret, encrypt_secret

AUTH_KINDS = {
    "password": "Utente e password",
    "ms_app": "Microsoft 365 – applicazione (client credentials)",
    "ms_delegated": "Microsoft 365 – autorizzazione di un amministratore (delegata)",
    "google_service": "Google Workspace – service account (delega a livello di dominio)",
    "google_delegated": "Google – autorizzazione delegata (refresh token)",
}
OAUTH_KINDS = tuple(k for k in AUTH_KINDS if k != "password")
MS_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MS_APP_SCOPES = ["https://outlook.office365.com/.default"]
MS_DELEGATED_SCOPES = [
    "https://outlook.office365.com/SMTP.Send",
    "https://outlook.office365.com/IMAP.AccessAsUser.All",
]
GOOGLE_SCOPES = ["https://mail.google.com/"]
REFRESH_MARGIN = 300  # seconds before expiry when a cached token is fetched again
HTTP_TIMEOUT = 20

REVOKED = "l'autorizzazione è stata revocata o è scaduta: ripeti l'autorizzazione dalla pagina dell'account"


def is_oauth(account: MailAccount) -> bool:
    """True when the account logs in with XOAUTH2."""
    return (account.auth_kind or "password") in OAUTH_KINDS


def endpoint(account: MailAccount) -> str:
    """The authority host (Microsoft) or token endpoint (Google) of an account, or the provider's default."""
    if account.oauth_endpoint:
        return account.oauth_endpoint.rstrip("/")
    return GOOGLE_TOKEN_URI if account.auth_kind.startswith("google") else MS_AUTHORITY


def http_session() -> requests.Session:
    """The HTTP session for the token endpoint: verified against OAUTH_CA_BUNDLE when set (else the system
    store). `verify` goes with every request: requests lets REQUESTS_CA_BUNDLE override a session's own."""
    session = requests.Session()
    # No Session-wide setting exists for either (see above), so the bound method is wrapped.
    session.request = functools.partial(  # type: ignore[method-assign]
        session.request, verify=current_app.config.get("OAUTH_CA_BUNDLE") or True, timeout=HTTP_TIMEOUT
    )
    return session


def _cache_key(account: MailAccount) -> str:
    """Redis key of an account's token: changes whenever a setting that yields the token changes."""
    # Not the refresh token: Microsoft rotates it at every use, and the access token stays good meanwhile.
    parts = [
        account.auth_kind,
        account.oauth_tenant,
        account.oauth_client_id,
        account.oauth_secret_encrypted,
        account.oauth_endpoint,
        account.username,
        account.imap_username,
    ]
    digest = hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()[:24]
    return f"recapito:oauth:{account.id}:{digest}"


def _margin() -> int:
    return int(current_app.config.get("OAUTH_REFRESH_MARGIN", REFRESH_MARGIN))


def _cached(redis, key: str) -> str | None:
    """A cached token still valid for longer than the margin, or None."""
    raw = redis.get(key)
    if not raw:
        return None
    try:
        entry = json.loads(decrypt_secret(raw.decode() if isinstance(raw, bytes) else raw))
    except (ValueError, TypeError):
        return None
    if entry.get("expires_at", 0) - _margin() <= time.time():
        return None
    return entry.get("token")


def forget_token(account: MailAccount) -> None:
    """Drop an account's cached token (the server refused it, or its settings changed)."""
    get_redis().delete(_cache_key(account))


def access_token(account: MailAccount, force: bool = False) -> str:
    """A valid access token for the account's mailbox: from the shared cache, or fetched (once) from the provider.

    Redis unreachable: the token is fetched without the cache (sending goes on; the resilience watchdog
    deals with Redis itself)."""
    try:
        return _cached_or_fetched(account, force)
    except RedisError:
        current_app.logger.warning(
            "oauth: Redis unavailable, token for account %s fetched without cache", account.id
        )
        return _fetch(account)[0]


def _cached_or_fetched(account: MailAccount, force: bool) -> str:
    redis = get_redis()
    key = _cache_key(account)
    if force:
        redis.delete(key)
    else:
        token = _cached(redis, key)
        if token:
            return token
    with redis.lock(key + ":lock", timeout=60, blocking_timeout=60):
        token = None if force else _cached(redis, key)
        if token:
            return token
        token, expires_in = _fetch(account)
        expires_at = time.time() + max(0, int(expires_in))
        redis.set(
            key,
            encrypt_secret(json.dumps({"token": token, "expires_at": expires_at})),
            ex=max(1, int(expires_in)),
        )
        current_app.logger.info("oauth: new token for account %s (expires in %ss)", account.id, expires_in)
        return token


def token_provider(account: MailAccount):
    """A callable `provider(force=False) -> token` for the transports, bound to this account's settings.

    The account's values are copied so the provider works outside the session that loaded it.
    """
    snapshot = MailAccount(
        id=account.id,
        auth_kind=account.auth_kind,
        oauth_tenant=account.oauth_tenant,
        oauth_client_id=account.oauth_client_id,
        oauth_secret_encrypted=account.oauth_secret_encrypted,
        oauth_refresh_token_encrypted=account.oauth_refresh_token_encrypted,
        oauth_endpoint=account.oauth_endpoint,
        username=account.username,
        imap_username=account.imap_username,
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app behind the proxy

    def provider(force: bool = False) -> str:
        with app.app_context():
            return access_token(snapshot, force=force)

    return provider


# ------------------------------------------------------------------ fetching from the provider


def _secret(account: MailAccount, field: str, what: str) -> str:
    try:
        value = decrypt_secret(getattr(account, field) or "")
    except ValueError as exc:
        raise OAuthError(f"{what}: {exc}") from exc
    if not value:
        raise OAuthError(f"Manca {what}: inseriscilo nella pagina dell'account.")
    return value


def _fetch(account: MailAccount) -> tuple[str, int]:
    """(token, seconds to expiry) from the provider."""
    try:
        if account.auth_kind in ("ms_app", "ms_delegated"):
            return _fetch_microsoft(account)
        if account.auth_kind in ("google_service", "google_delegated"):
            return _fetch_google(account)
    except requests.RequestException as exc:
        raise OAuthError(
            f"Server dei token {endpoint(account)} non raggiungibile ({type(exc).__name__}): "
            "riprova più tardi o controlla l'indirizzo dell'autorità.",
            temporary=True,
        ) from exc
    raise OAuthError("Questo account non usa OAuth2.")


def ms_application(account: MailAccount, secret: str | None = None):
    """The MSAL confidential client of an account (authority = host/tenant, no instance discovery)."""
    import msal

    if not account.oauth_tenant or not account.oauth_client_id:
        raise OAuthError(
            "Indica l'ID del tenant (directory) e l'ID dell'applicazione (client) nella pagina dell'account."
        )
    if secret is None:
        secret = _secret(account, "oauth_secret_encrypted", "il segreto dell'applicazione (client secret)")
    authority = f"{endpoint(account)}/{account.oauth_tenant}"
    credential = certificate_credential(secret) or secret
    try:
        return msal.ConfidentialClientApplication(
            account.oauth_client_id,
            client_credential=credential,
            authority=authority,
            instance_discovery=False,
            validate_authority=False,
            http_client=http_session(),
            token_cache=msal.TokenCache(),
        )  # a fresh cache: the shared one is ours, in Redis
    except ValueError as exc:
        raise OAuthError(_explain_text(str(exc) + " " + str(exc.__context__ or ""), account)) from exc


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----[^-]+-----END \1-----")


def certificate_credential(secret: str) -> dict | None:
    """A certificate instead of a client secret: the PEM with the private key and its certificate (as
    uploaded to the app registration). MSAL signs a client assertion (PS256, x5t#S256) with it."""
    if "-----BEGIN" not in secret:
        return None
    blocks = {m.group(1): m.group(0) for m in _PEM_BLOCK.finditer(secret)}
    key = next((blocks[k] for k in blocks if k.endswith("PRIVATE KEY")), None)
    if key is None or "CERTIFICATE" not in blocks:
        raise OAuthError(
            "Per l'accesso con certificato incolla il PEM con la chiave privata (non cifrata) e il "
            "certificato caricato nella registrazione dell'app."
        )
    return {"private_key": key, "public_certificate": blocks["CERTIFICATE"]}


def _fetch_microsoft(account: MailAccount) -> tuple[str, int]:
    app = ms_application(account)
    if account.auth_kind == "ms_app":
        result = app.acquire_token_for_client(scopes=MS_APP_SCOPES)
    else:
        refresh = _secret(account, "oauth_refresh_token_encrypted", "l'autorizzazione dell'amministratore")
        result = app.acquire_token_by_refresh_token(refresh, scopes=MS_DELEGATED_SCOPES)
        if "access_token" in result and result.get("refresh_token") and result["refresh_token"] != refresh:
            _store_rotated_refresh_token(account, result["refresh_token"])
    if "access_token" not in result:
        raise OAuthError(
            _explain_text(f"{result.get('error', '')} {result.get('error_description', '')}", account)
        )
    return result["access_token"], int(result.get("expires_in") or 3600)


def _store_rotated_refresh_token(account: MailAccount, refresh_token: str) -> None:
    """Microsoft may hand out a new refresh token: keep it (encrypted) in a transaction of its own, so the
    caller's session (a sender's claims) is not committed along with it."""
    from ..extensions import db

    with db.engine.begin() as conn:
        conn.execute(
            db.update(MailAccount)
            .where(MailAccount.id == account.id)
            .values(oauth_refresh_token_encrypted=encrypt_secret(refresh_token))
        )


# ------------------------------------------------------------------ Microsoft delegated: the one-time consent

FLOW_TTL = 900  # seconds an administrator has to complete the consent at Microsoft


def start_authorization(account: MailAccount, redirect_uri: str, user_id: int) -> str:
    """Begin the authorisation-code flow (PKCE) for a delegated Microsoft account; return where to send the
    administrator. The flow waits in Redis (encrypted), bound to the account and to this user."""
    # response_mode=query: Microsoft's cross-site form_post would arrive without our SameSite=Lax session
    # cookie; the code is useless without the PKCE verifier, which stays in Redis bound to this user.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        flow = ms_application(account).initiate_auth_code_flow(
            MS_DELEGATED_SCOPES, redirect_uri=redirect_uri, response_mode="query"
        )
    payload = json.dumps({"flow": flow, "account_id": account.id, "user_id": user_id})
    get_redis().set(f"recapito:oauth-flow:{flow['state']}", encrypt_secret(payload), ex=FLOW_TTL)
    return flow["auth_uri"]


def finish_authorization(args, user_id: int) -> MailAccount:
    """The provider's redirect back: exchange the code, keep the refresh token (encrypted). The caller commits."""
    from ..extensions import db

    raw = get_redis().getdel(f"recapito:oauth-flow:{args.get('state', '')}") if args.get("state") else None
    if not raw:
        raise OAuthError(
            "Richiesta di autorizzazione sconosciuta o scaduta (15 minuti): riparti dalla pagina "
            "dell'account con «Autorizza con Microsoft»."
        )
    saved = json.loads(decrypt_secret(raw.decode() if isinstance(raw, bytes) else raw))
    account = db.session.get(MailAccount, saved["account_id"])
    if account is None or saved["user_id"] != user_id:
        raise OAuthError(
            "Questa autorizzazione è stata avviata da un altro utente o per un account eliminato."
        )
    if args.get("error"):
        raise OAuthError(_explain_text(f"{args.get('error')} {args.get('error_description', '')}", account))
    try:
        result = ms_application(account).acquire_token_by_auth_code_flow(saved["flow"], dict(args))
    except requests.RequestException as exc:
        raise OAuthError(
            f"Server dei token {endpoint(account)} non raggiungibile: riprova.", temporary=True
        ) from exc
    if "refresh_token" not in result:
        raise OAuthError(
            _explain_text(f"{result.get('error', '')} {result.get('error_description', '')}", account)
        )
    account.oauth_refresh_token_encrypted = encrypt_secret(result["refresh_token"])
    return account


def _fetch_google(account: MailAccount) -> tuple[str, int]:
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.credentials
    import google.oauth2.service_account

    request = google.auth.transport.requests.Request(session=http_session())
    token_uri = endpoint(account)
    if account.auth_kind == "google_service":
        raw = _secret(account, "oauth_secret_encrypted", "la chiave JSON del service account")
        try:
            info = json.loads(raw)
            creds = google.oauth2.service_account.Credentials.from_service_account_info(
                {**info, "token_uri": token_uri},
                scopes=GOOGLE_SCOPES,
                subject=account.username or account.imap_username,
            )
        except (ValueError, KeyError) as exc:
            raise OAuthError(
                "La chiave JSON del service account non è valida: caricala di nuovo dalla console "
                "Google Cloud (IAM › Service account › Chiavi)."
            ) from exc
    else:
        creds = google.oauth2.credentials.Credentials(
            None,
            refresh_token=_secret(account, "oauth_refresh_token_encrypted", "il refresh token"),
            client_id=account.oauth_client_id,
            client_secret=_secret(account, "oauth_secret_encrypted", "il segreto del client OAuth"),
            token_uri=token_uri,
            scopes=GOOGLE_SCOPES,
        )
    try:
        creds.refresh(request)
    except google.auth.exceptions.TransportError as exc:
        raise OAuthError(
            f"Server dei token {token_uri} non raggiungibile: riprova più tardi.", temporary=True
        ) from exc
    except google.auth.exceptions.RefreshError as exc:
        raise OAuthError(_explain_text(" ".join(str(a) for a in exc.args), account)) from exc
    # google-auth keeps the expiry as a naive UTC datetime.
    expires_in = int(calendar.timegm(creds.expiry.timetuple()) - time.time()) if creds.expiry else 3600
    return creds.token, expires_in


def _explain_text(text: str, account: MailAccount) -> str:
    """An Italian message that says what to fix, from the provider's error code and description."""
    low = text.lower()
    if "invalid_grant" in low or "aadsts70000" in low or "aadsts700082" in low or "aadsts50173" in low:
        return "Token OAuth2 non ottenuto: " + REVOKED + "."
    if (
        "aadsts90002" in low
        or "invalid_tenant" in low
        or ("tenant" in low and ("not found" in low or "double check" in low))
    ):
        return (
            f"Tenant «{account.oauth_tenant}» sconosciuto: controlla l'ID della directory (tenant) "
            "nella registrazione dell'app su Microsoft Entra e nella pagina dell'account."
        )
    if "invalid_client" in low or "aadsts7000215" in low or "unauthorized_client" in low:
        return (
            "Applicazione rifiutata dal fornitore (invalid_client): controlla l'ID client e il segreto "
            "(o la chiave del service account) e che non siano scaduti; inserisci un segreto nuovo "
            "nella pagina dell'account."
        )
    if "invalid_scope" in low or "access_denied" in low:
        return (
            "Permesso mancante per la posta: concedi i permessi (SMTP.SendAsApp / IMAP.AccessAsApp, "
            "o lo scope https://mail.google.com/ nella delega a livello di dominio) e riprova."
        )
    code = text.strip().split(" ", 1)[0] if text.strip() else "errore"
    return f"Token OAuth2 non ottenuto ({code[:60]}): controlla le impostazioni OAuth2 dell'account."
