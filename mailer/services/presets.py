"""Provider presets for sending accounts: server, port, TLS, authentication kind and documented limits.

Each preset names the public page its figures come from; "unverified" marks a figure we could not
check against the provider's own page (set it from the contract or the provider's support).
PEC presets take the sender domains of the provider's certified system from `reference.PEC_PROVIDERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..reference import PEC_PROVIDERS


@dataclass(frozen=True)
class Preset:
    """What choosing a provider fills in on the account form (and `accounts add --preset`)."""

    code: str
    label: str
    kind: str = "smtp"  # smtp | pec
    host: str = ""
    port: int = 587
    tls_mode: str = "starttls"
    # The authentication the provider expects (password, ms_app, ms_delegated, google_service,
    # google_delegated); applied only where the account has an `auth_kind` field.
    auth_kind: str = "password"
    imap_host: str = ""
    imap_port: int = 993
    rate_per_minute: int | None = None
    rate_per_day: int | None = None
    max_recipients: int | None = None
    max_message_mb: int | None = None
    max_connections: int | None = None
    pec_provider: str = ""  # name in reference.PEC_PROVIDERS
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pec_system_domains(self) -> tuple[str, ...]:
        """The sender domains of the provider's certified system (receipts), from reference.PEC_PROVIDERS."""
        for name, _mailbox_domains, system_domains, _source in PEC_PROVIDERS:
            if name == self.pec_provider:
                return system_domains
        return ()

    def form_values(self) -> dict:
        """The account-form fields this preset sets (only those it knows)."""
        values: dict = {
            "kind": self.kind,
            "host": self.host,
            "port": self.port,
            "tls_mode": self.tls_mode,
            "imap_host": self.imap_host,
            "imap_port": self.imap_port,
        }
        for key in ("rate_per_minute", "rate_per_day", "max_recipients", "max_message_mb", "max_connections"):
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        if self.kind == "pec":
            values["pec_system_domains"] = "\n".join(self.pec_system_domains)
        return values


PRESETS: dict[str, Preset] = {
    p.code: p
    for p in (
        Preset(
            "generic",
            "SMTP generico (imposta tu i campi)",
            host="",
            port=587,
            tls_mode="starttls",
            imap_host="",
            source="nessuna: server e limiti li indica chi gestisce il server",
        ),
        # https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365
        #   (SMTP AUTH client submission: smtp.office365.com, 587, STARTTLS; OAuth2 since Basic auth is retired)
        # https://learn.microsoft.com/en-us/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1
        #   (30 messages per minute, 10 000 recipients per day, 500 recipients per message; 35 MB default
        #    send size of a mailbox — the size figure unverified here)
        Preset(
            "microsoft365",
            "Microsoft 365 / Exchange Online",
            host="smtp.office365.com",
            port=587,
            tls_mode="starttls",
            auth_kind="ms_app",
            imap_host="outlook.office365.com",
            rate_per_minute=30,
            rate_per_day=10000,
            max_recipients=500,
            max_message_mb=35,
            max_connections=3,
            source="https://learn.microsoft.com/en-us/office365/servicedescriptions/exchange-online-service-"
            "description/exchange-online-limits#sending-limits-1",
        ),
        # https://support.google.com/a/answer/166852 (Gmail sending limits in Google Workspace: 2 000 messages
        #   per day, 10 000 recipients per day; per-minute rate not documented: unverified, kept low)
        # https://support.google.com/a/answer/176600 (smtp.gmail.com, 587 STARTTLS / 465 SSL; 25 MB message size)
        Preset(
            "google",
            "Google Workspace / Gmail",
            host="smtp.gmail.com",
            port=587,
            tls_mode="starttls",
            auth_kind="google_service",
            imap_host="imap.gmail.com",
            rate_per_minute=20,
            rate_per_day=2000,
            max_recipients=100,
            max_message_mb=25,
            max_connections=2,
            source="https://support.google.com/a/answer/166852",
        ),
        # https://guide.hosting.aruba.it/email/configurazione-client-posta/ (smtps.aruba.it 465 SSL, imaps.aruba.it
        #   993) — unverified (page not found offline); limits unverified, kept conservative.
        Preset(
            "aruba",
            "Aruba (posta ordinaria)",
            host="smtps.aruba.it",
            port=465,
            tls_mode="ssl",
            imap_host="imaps.aruba.it",
            rate_per_minute=10,
            rate_per_day=2000,
            max_recipients=50,
            max_message_mb=25,
            max_connections=1,
            source="https://guide.hosting.aruba.it/ (unverified)",
        ),
        # https://guide.pec.it/posta-pec/configurare-casella-pec/bozza.aspx (SMTP «obbligatorio» smtps.pec.aruba.it;
        #   465 SSL and imaps.pec.aruba.it 993 from the same guide's parameter table — port figures unverified)
        # Limits: 50 recipients per message, 100 MB message — unverified.
        Preset(
            "aruba_pec",
            "Aruba PEC",
            kind="pec",
            host="smtps.pec.aruba.it",
            port=465,
            tls_mode="ssl",
            imap_host="imaps.pec.aruba.it",
            rate_per_minute=10,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=100,
            max_connections=1,
            pec_provider="Aruba PEC",
            source="https://guide.pec.it/posta-pec/configurare-casella-pec/bozza.aspx",
        ),
        # http://we.register.it/email/terms_conditions_eplus.html (authenticated SMTP «authsmtp.<dominio>»;
        #   the generic authsmtp.register.it on 587 STARTTLS and imap.register.it 993: unverified; limits unverified)
        Preset(
            "register",
            "Register.it (posta ordinaria)",
            host="authsmtp.register.it",
            port=587,
            tls_mode="starttls",
            imap_host="imap.register.it",
            rate_per_minute=10,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=25,
            max_connections=1,
            source="http://we.register.it/email/terms_conditions_eplus.html",
        ),
        # https://www.register.it/pec/ — server names smtps.pec.register.it / imaps.pec.register.it: unverified.
        Preset(
            "register_pec",
            "Register.it PEC",
            kind="pec",
            host="smtps.pec.register.it",
            port=465,
            tls_mode="ssl",
            imap_host="imaps.pec.register.it",
            rate_per_minute=10,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=50,
            max_connections=1,
            pec_provider="Register.it",
            source="https://www.register.it/pec/ (unverified)",
        ),
        # https://help.infocert.it/home/elencofaq/guida-alla-configurazione-legalmail-- (servers mbox.cert.legalmail.it
        #   and sendm.cert.legalmail.it; ports 465/993 unverified); contract art. 5: at most 6 messages per minute
        #   ("Class Of Service - Too much traffic from this sender" beyond that).
        Preset(
            "legalmail",
            "InfoCert Legalmail (PEC)",
            kind="pec",
            host="sendm.cert.legalmail.it",
            port=465,
            tls_mode="ssl",
            imap_host="mbox.cert.legalmail.it",
            rate_per_minute=6,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=50,
            max_connections=1,
            pec_provider="InfoCert Legalmail",
            source="https://help.infocert.it/home/elencofaq/guida-alla-configurazione-legalmail--",
        ),
        # https://www.poste.it/faq-posta-elettronica-certificata.html — server mail.postecert.it 465/993: unverified.
        Preset(
            "poste_pec",
            "Poste Italiane PEC (Postecert)",
            kind="pec",
            host="mail.postecert.it",
            port=465,
            tls_mode="ssl",
            imap_host="mail.postecert.it",
            rate_per_minute=6,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=30,
            max_connections=1,
            pec_provider="Poste Italiane",
            source="https://www.poste.it/faq-posta-elettronica-certificata.html (unverified)",
        ),
        # https://www.namirial.com/it/pec/ — smtps.sicurezzapostale.it / imaps.sicurezzapostale.it: unverified.
        Preset(
            "namirial_pec",
            "Namirial PEC",
            kind="pec",
            host="smtps.sicurezzapostale.it",
            port=465,
            tls_mode="ssl",
            imap_host="imaps.sicurezzapostale.it",
            rate_per_minute=6,
            rate_per_day=1000,
            max_recipients=50,
            max_message_mb=50,
            max_connections=1,
            pec_provider="Namirial",
            source="https://www.namirial.com/it/pec/ (unverified)",
        ),
    )
}


def get_preset(code: str) -> Preset | None:
    """The preset with this code, or None."""
    return PRESETS.get((code or "").strip())


def apply_preset(values: dict, code: str, has_auth_kind: bool) -> dict:
    """The form values with the preset's settings on top; `auth_kind` only when the account model has it."""
    preset = get_preset(code)
    if preset is None:
        return dict(values)
    merged = {**values, **preset.form_values(), "preset": preset.code}
    if has_auth_kind:
        merged["auth_kind"] = preset.auth_kind
    return merged
