"""Saving the company settings through the real admin form (the way an administrator changes them)."""

from __future__ import annotations

from mailer.extensions import db
from mailer.services.company import COMPANY_FIELDS, COMPANY_FLAGS
from mailer.services.reference import get_company


def company_form(app, **flags) -> dict:
    """The company form as the page would post it: current text fields, each flag as hidden «0» (+ «1» if on)."""
    with app.app_context():
        company = get_company()
        data: dict = {k: getattr(company, k) or "" for k in COMPANY_FIELDS}
        current = {k: bool(getattr(company, k)) for k in COMPANY_FLAGS}
        db.session.remove()
    data["name"] = data["name"] or "Azienda di prova S.r.l."
    for flag in COMPANY_FLAGS:
        data[flag] = ["0", "1"] if flags.get(flag, current[flag]) else ["0"]
    return data


def save_company_flags(app, client, **flags) -> None:
    """POST the company form with the flags set as given (the client must be logged in as an admin)."""
    response = client.post("/admin/company", data=company_form(app, **flags))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
