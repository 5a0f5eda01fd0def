"""A campaign's subject and body: checks in the templates' sandbox, sample context, rendering."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markupsafe import escape

from ... import formatting
from ...models import Contact, MailAccount, User, utcnow
from .. import mail_templates as mt
from .safety import unsafe_html

CAMPAIGN_SCHEMA: dict[str, Any] = {
    "azienda": mt.SCHEMA["azienda"],
    "anagrafica": mt.SCHEMA["anagrafica"],
    "contatto": mt.SCHEMA["contatto"],
    "campagna": {
        "nome": "nome della campagna",
        "documenti": [{"titolo": "titolo del documento allegato", "file": "nome del file"}],
        "elenco": "i titoli dei documenti allegati, tra virgolette e separati da virgole",
    },
    "saluto": "«Gentile Mario Rossi» a una persona, «Spettabile» e la ragione sociale a un ufficio o a una casella",
    "utente": mt.SCHEMA["utente"],
    "mittente": mt.SCHEMA["mittente"],
    "disiscrizione_url": "link per disiscriversi (le campagne commerciali lo aggiungono comunque in fondo)",
    "oggi": mt.SCHEMA["oggi"],
}


def _compile(field: str, source: str):
    """The templates' sandbox and checks, with the campaign placeholders: (template, errors)."""
    return mt.compile_checked(field, source, CAMPAIGN_SCHEMA)


def validate_texts(subject: str, body_html: str, commercial: bool) -> list[mt.TemplateError]:
    """Problems of a campaign's subject and body (with line numbers)."""
    errors: list[mt.TemplateError] = []
    if not (subject or "").strip():
        errors.append(mt.TemplateError("subject", None, "L'oggetto è obbligatorio"))
    if not (body_html or "").strip():
        errors.append(mt.TemplateError("body_html", None, "Il testo è obbligatorio"))
    for field, source in (("subject", subject or ""), ("body_html", body_html or "")):
        if not source.strip():
            continue
        if field == "body_html" and (problem := unsafe_html(source)):
            errors.append(mt.TemplateError(field, None, problem))
            continue
        template, problems = _compile(field, source)
        errors.extend(problems)
        if template is not None:
            try:
                mt.run(template, sample_context())
            except Exception as exc:  # noqa: BLE001 — shown to the author
                errors.append(mt.render_error(field, exc, False))
        if not commercial:
            word = mt.promotional(source)
            if word:
                errors.append(
                    mt.TemplateError(
                        field, None, f"Contenuto promozionale («{word}»): segna la campagna come commerciale"
                    )
                )
    return errors


def greeting(contact: dict, party: dict) -> str:
    """«Gentile Mario Rossi» to a person; «Spettabile Rossi S.r.l.» to a role or a mailbox (never «Gentile
    Ufficio amministrazione»); «Buongiorno» with neither name."""
    if contact.get("persona") and contact.get("nome"):
        return f"Gentile {contact['nome']}"
    if party.get("ragione_sociale"):
        return f"Spettabile {party['ragione_sociale']}"
    return "Buongiorno"


def _campaign(name: str, documents: list[dict]) -> dict:
    """The `campagna` placeholder: name, documents and their titles as one phrase."""
    return {"nome": name, "documenti": documents, "elenco": ", ".join(f"«{d['titolo']}»" for d in documents)}


def sample_context() -> dict:
    """A made-up context for checks and the editor preview."""
    base = mt.sample_context("GENERICO")
    return {key: base[key] for key in ("azienda", "anagrafica", "contatto", "utente", "mittente", "oggi")} | {
        "campagna": _campaign("Listino 2027", [{"titolo": "Listino prezzi 2027", "file": "listino.pdf"}]),
        "saluto": greeting(base["contatto"], base["anagrafica"]),
        "disiscrizione_url": "https://esempio.invalid/campagne/disiscrizione/…",
    }


def recipient_context(
    contact: Contact,
    campaign_name: str,
    documents: list[dict],
    account: MailAccount,
    user: User | None,
    unsubscribe_url: str,
) -> dict:
    """The placeholders' values for one recipient of a campaign (what preparation and the preview use)."""
    shared = campaign_context(campaign_name, documents, account, user)
    return contact_context_for(shared, contact, unsubscribe_url)


def campaign_context(
    campaign_name: str, documents: list[dict], account: MailAccount, user: User | None
) -> dict:
    """The placeholders every recipient of a campaign shares (worked out once per preparation)."""
    return {
        "azienda": mt.company_context(),
        "campagna": _campaign(campaign_name, documents),
        "utente": {
            "nome": (user.full_name or user.username) if user else "",
            "email": user.email if user else "",
        },
        "mittente": {
            "nome": account.from_name or account.name,
            "email": account.from_address,
            "pec": False,
            "account_id": account.id,
        },
        "oggi": formatting.local_day(utcnow()),  # the day in Italy, as the reader's calendar
    }


def contact_context_for(shared: dict, contact: Contact, unsubscribe_url: str) -> dict:
    """The shared placeholders (campaign_context) plus one recipient's own."""
    party, person = mt.party_context(contact.party), mt.contact_context(contact)
    return {
        **shared,
        "anagrafica": party,
        "contatto": person,
        "saluto": greeting(person, party),
        "disiscrizione_url": unsubscribe_url,
    }


def render_texts(
    subject: str, body_html: str, context: dict, account: MailAccount | None, unsubscribe_url: str | None
) -> tuple[str, str, str]:
    """(subject, html, text) of one message: body, unsubscribe footer when commercial, signature."""
    return render_with(
        compiled_texts(subject, body_html), context, mt.signature_for(account), unsubscribe_url
    )


@lru_cache(maxsize=64)
def compiled_texts(subject: str, body_html: str):
    """The subject's and the body's templates, parsed, checked and compiled once per source (cached:
    a preparation renders them for every recipient)."""
    subject_t, errors = _compile("subject", subject)
    body_t, errors2 = _compile("body_html", body_html)
    if errors or errors2:
        raise mt.TemplateValidationError(errors + errors2)
    return subject_t, body_t


@lru_cache(maxsize=32)
def _signature_text(signature_html: str) -> str:
    """The plain-text form of a signature (the same for every message of an account)."""
    return mt.html_to_text(signature_html)


def render_with(
    templates: tuple, context: dict, signature_html: str, unsubscribe_url: str | None
) -> tuple[str, str, str]:
    """(subject, html, text) from compiled_texts' templates and the account's signature."""
    subject_t, body_t = templates
    out_subject = " ".join(mt.run(subject_t, context).split())[: mt.MAX_SUBJECT_CHARS]
    html = mt.run(body_t, context).strip()
    if unsubscribe_url:
        link = escape(unsubscribe_url)
        html += (
            f'\n<p class="disiscrizione" style="font-size:12px;color:#666">Ricevi questa e-mail perché sei '
            f"un contatto di {escape(context['azienda']['ragione_sociale'].rstrip('.'))}. Per non ricevere più "
            f'comunicazioni commerciali: <a href="{link}">disiscriviti</a>.</p>'
        )
    text = mt.html_to_text(html)
    return (
        out_subject,
        f'{html}\n<div class="firma">\n{signature_html}\n</div>',
        f"{text}\n-- \n{_signature_text(signature_html)}",
    )
