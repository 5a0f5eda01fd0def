"""The HTML signature of a sending account: its default, which one a message gets, its checks."""

from __future__ import annotations

import re

from markupsafe import escape

from ...models import MailAccount
from .context import company_context

MAX_SIGNATURE_CHARS = 20_000


def default_signature_html() -> str:
    """Signature used when the sending account has none: company name and contacts."""
    c = company_context()
    parts = [f"<strong>{escape(c['ragione_sociale'])}</strong>"]
    address = " ".join(
        x
        for x in [
            c["indirizzo"],
            "-" if c["indirizzo"] else "",
            c["cap"],
            c["citta"],
            f"({c['provincia']})" if c["provincia"] else "",
        ]
        if x
    )
    for value in (
        address,
        f"P.IVA {c['piva']}" if c["piva"] else "",
        f"Tel. {c['telefono']}" if c["telefono"] else "",
        c["email"],
        c["sito"],
    ):
        if value:
            parts.append(str(escape(value)))
    return "<p>" + "<br>\n".join(parts) + "</p>"


def signature_for(account: MailAccount | None) -> str:
    """The HTML signature appended to every body sent through the account."""
    if account is not None and (account.signature_html or "").strip():
        return account.signature_html
    return default_signature_html()


def validate_signature(html: str) -> list[str]:
    """Problems of a signature (Italian); empty means it can be saved."""
    problems = []
    if len(html or "") > MAX_SIGNATURE_CHARS:
        problems.append(f"Firma troppo lunga (massimo {MAX_SIGNATURE_CHARS} caratteri).")
    if re.search(r"<\s*(script|iframe|object|embed|form)\b|\son\w+\s*=|javascript:", html or "", re.I):
        problems.append("La firma non può contenere script, moduli, frame o gestori di eventi.")
    return problems
