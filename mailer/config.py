"""Configuration read from the environment (and from instance/config.py)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

INSECURE_KEYS = {"", "dev", "change-me", "dev-insecure-key"}


def _bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "si", "sì"}


def _int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings for every environment; values come from the environment."""

    ENV_NAME = os.environ.get("RECAPITO_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-insecure-key")
    # Key used to encrypt SMTP/IMAP passwords at rest (Fernet, urlsafe base64, 32 bytes).
    # Kept outside the database; derived from SECRET_KEY when not given.
    CREDENTIALS_KEY = os.environ.get("CREDENTIALS_KEY", "")
    # OAuth2 (XOAUTH2) accounts: an extra CA bundle for the token endpoint (a private/sovereign stand-in;
    # the system store otherwise) and how many seconds before expiry a cached token is fetched again.
    OAUTH_CA_BUNDLE = os.environ.get("OAUTH_CA_BUNDLE", "")
    OAUTH_REFRESH_MARGIN = _int("OAUTH_REFRESH_MARGIN", 300)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "recapito")

    # Service mail (batch summaries): by default the local capture server, like the demo accounts.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", os.environ.get("CAPTURE_SMTP_HOST", "127.0.0.1"))
    MAIL_PORT = _int("MAIL_PORT", _int("CAPTURE_SMTP_PORT", 2525))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "recapito@localhost")

    CAPTURE_SMTP_HOST = os.environ.get("CAPTURE_SMTP_HOST", "127.0.0.1")
    CAPTURE_SMTP_PORT = _int("CAPTURE_SMTP_PORT", 2525)
    CAPTURE_DIR = os.environ.get("CAPTURE_DIR", "")  # default: <instance>/captured
    CAPTURE_DEFER_TIMES = _int("CAPTURE_DEFER_TIMES", 1)  # «riprova@…» answered 451 this many times first
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    SESSION_COOKIE_NAME = "recapito_session"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 60)
    PERMANENT_SESSION_LIFETIME = 8 * 3600

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_HEADERS: ClassVar[list[str]] = ["X-CSRFToken", "X-CSRF-Token"]
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024)

    # Login throttling per (account, address): LOGIN_MAX_FAILURES free failures, then each try waits
    # LOGIN_FIRST_DELAY_SECONDS doubled at every further failure, up to LOGIN_MAX_DELAY_SECONDS (never a
    # lock). Past LOGIN_ADDRESS_FAILURES from one address, waits start at an account's first failure there.
    # Failures are remembered for LOGIN_LOCK_MINUTES.
    LOGIN_MAX_FAILURES = _int("LOGIN_MAX_FAILURES", 5)
    LOGIN_FIRST_DELAY_SECONDS = _int("LOGIN_FIRST_DELAY_SECONDS", 1)
    LOGIN_MAX_DELAY_SECONDS = _int("LOGIN_MAX_DELAY_SECONDS", 300)
    LOGIN_ADDRESS_FAILURES = _int("LOGIN_ADDRESS_FAILURES", 50)
    LOGIN_LOCK_MINUTES = _int("LOGIN_LOCK_MINUTES", 15)
    # The recipients' «Gestisci le tue preferenze» links: valid this many days; the public page answers at
    # most PREFERENCES_HITS_PER_ADDRESS requests per network address in 10 minutes, and one link takes at
    # most PREFERENCES_SUBMITS_PER_LINK changes per hour.
    PREFERENCES_LINK_DAYS = _int("PREFERENCES_LINK_DAYS", 60)
    PREFERENCES_HITS_PER_ADDRESS = _int("PREFERENCES_HITS_PER_ADDRESS", 60)
    PREFERENCES_SUBMITS_PER_LINK = _int("PREFERENCES_SUBMITS_PER_LINK", 10)
    # Behind a reverse proxy: how many proxies set X-Forwarded-For / -Proto / -Host (Werkzeug ProxyFix).
    # 0 (the default) trusts none of these headers: anybody could forge them.
    PROXY_FIX_X_FOR = _int("PROXY_FIX_X_FOR", 0)
    PROXY_FIX_X_PROTO = _int("PROXY_FIX_X_PROTO", 0)
    PROXY_FIX_X_HOST = _int("PROXY_FIX_X_HOST", 0)

    SEND_RETRY_BACKOFF = os.environ.get("SEND_RETRY_BACKOFF", "60,300,900")
    SEND_MAX_ATTEMPTS = _int("SEND_MAX_ATTEMPTS", 4)
    # Waits before each new attempt of the end-of-batch summary e-mail (4xx, no connection).
    SUMMARY_RETRY_INTERVALS = os.environ.get("SUMMARY_RETRY_INTERVALS", "60,300,900,3600")
    # A sender that has not refreshed its heartbeat for this long is dead: its claim becomes uncertain.
    SENDER_HEARTBEAT_SECONDS = _int("SENDER_HEARTBEAT_SECONDS", 60)
    # A sender waits this long for a database that does not answer (restart, lock) before giving up.
    SENDER_DB_WAIT_SECONDS = _int("SENDER_DB_WAIT_SECONDS", 120)
    # … and this long for Redis (rate limits, heartbeat): nothing is sent while it is away.
    SENDER_REDIS_WAIT_SECONDS = _int("SENDER_REDIS_WAIT_SECONDS", 120)
    # The dashboard's 30-day chart joins every delivery of the month to its documents (20,000 sent today:
    # 20,000 rows at each view); its figures are kept this long in Redis, per clearance (0: never kept).
    DASHBOARD_CHART_SECONDS = _int("DASHBOARD_CHART_SECONDS", 60)
    # A batch being sent: its counts per state kept this long for the pages (0: counted at every view).
    BATCH_COUNTS_SECONDS = _int("BATCH_COUNTS_SECONDS", 2)
    # SMTP socket timeout: a server silent for longer after the final dot leaves the message "uncertain".
    SMTP_TIMEOUT = _int("SMTP_TIMEOUT", 60)
    # How long a SQLite statement waits for a lock held by another connection before failing.
    SQLITE_BUSY_TIMEOUT_MS = _int("SQLITE_BUSY_TIMEOUT_MS", 15000)
    # CPU priority of the RQ workers (nice value, 0..19; 0 leaves it alone): sending and preparing are
    # background work and must not slow down the pages when web and workers share one machine.
    WORKER_NICE = _int("WORKER_NICE", 10)
    # How often `flask scheduler` runs the watchdog (dead senders' claims, batches left without a sender).
    WATCHDOG_SECONDS = _int("WATCHDOG_SECONDS", 30)
    SPOOL_DIR = os.environ.get("SPOOL_DIR", "")  # default: <instance>/spool
    # Delivery tracking: IMAP reading of PEC receipts and bounces.
    IMAP_POLL_SECONDS = _int("IMAP_POLL_SECONDS", 120)
    IMAP_CA_FILE = os.environ.get("IMAP_CA_FILE", "")
    IMAP_PLAINTEXT_LOOPBACK = _bool("IMAP_PLAINTEXT_LOOPBACK", False)  # plain IMAP to 127.0.0.1/::1 only
    BOUNCE_FLAG_THRESHOLD = _int("BOUNCE_FLAG_THRESHOLD", 3)
    # Larger messages in a mailbox are not downloaded: their headers are kept, the message stays there.
    INBOUND_MAX_BYTES = _int("INBOUND_MAX_BYTES", 50 * 1024 * 1024)
    WKHTMLTOPDF = os.environ.get("WKHTMLTOPDF", "wkhtmltopdf")
    SHOW_DEMO_BANNER = True
    # Webhooks to the ERP: seconds before each retry (empty: 1 min, 5 min, 30 min, 2 h, 6 h), seconds an
    # endpoint has to answer, how often `flask scheduler` enqueues the messages still pending.
    WEBHOOK_BACKOFF_SECONDS = os.environ.get("WEBHOOK_BACKOFF_SECONDS", "")
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS") or 5)
    WEBHOOK_OUTBOX_SECONDS = _int("WEBHOOK_OUTBOX_SECONDS", 60)


class TestConfig(Config):
    """Settings for the test suite."""

    TESTING = True
    ENV_NAME = "testing"
    # argon2id at its lowest cost: the suite hashes a password for every user it makes (about 1 s each
    # at the production cost on a busy 2-core machine); production keeps argon2's defaults.
    ARGON2_COST = (1, 8, 1)
    SECRET_KEY = "test-secret-key-not-for-production"
    LOGIN_MAX_FAILURES = 5
    LOGIN_FIRST_DELAY_SECONDS = (
        30  # a test's next try comes well within the first wait, however slow the machine
    )
    SEND_RETRY_BACKOFF = "0,0,0"
    WEBHOOK_BACKOFF_SECONDS = os.environ.get("WEBHOOK_BACKOFF_SECONDS", "0,0,0")
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS") or 2)
    SUMMARY_RETRY_INTERVALS = "0,0"
    DASHBOARD_CHART_SECONDS = 0  # tests read the chart right after sending
    BATCH_COUNTS_SECONDS = 0  # and the counts of a batch as it sends
