"""Templates editor: live preview on real documents (privacy respected), save with errors at their line,
versions that old batches keep, sending settings, signatures."""

from __future__ import annotations

import html as htmllib

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, DocumentType, MailAccount, TemplateVersion
from mailer.services import mail_templates as svc
from tests.support.mailtemplates import make_account, make_contact, make_document, make_party


@pytest.fixture
def invoice(app):
    """A real invoice with a visible and a confidential contact; returns ids."""
    with app.app_context():
        party = make_party()
        visible = make_contact(party, "Anna Verdi", "anna@rossi.example", privacy=0)
        secret = make_contact(party, "Carlo Segreto", "carlo@rossi.example", privacy=3)
        doc = make_document(party, number="2026/77", total="2440.00")
        other = make_document(party, type_code="DDT", number="D-9")
        db.session.commit()
        return {"doc": doc.id, "visible": visible.id, "secret": secret.id, "ddt": other.id}


def preview(client, data):
    """POST the editor form to the live preview as htmx does; return the decoded HTML."""
    form = {
        "subject": "Fattura {{ documento.numero }}",
        "body_html": "<p>Gentile {{ contatto.nome }}, totale {{ documento.totale|it_money }}</p>",
        "body_text": "",
        **data,
    }
    response = client.post("/modelli/FATTURA/it/anteprima", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return htmllib.unescape(response.get_data(as_text=True))


def test_preview_renders_a_real_invoice(client, auth, invoice):
    """The preview uses the chosen document and contact, with Italian amounts."""
    auth.login("admin")
    page = preview(client, {"preview_doc": invoice["doc"]})
    assert "Fattura 2026/77" in page
    assert "Gentile Anna Verdi, totale 2.440,00 €" in page
    assert "Rossi Forniture S.r.l." in page  # the document list names the party


def test_preview_never_shows_contacts_above_clearance(client, auth, invoice):
    """A contact above the user's clearance is neither listed nor usable in the preview."""
    auth.login("admin", clearance=1)
    page = preview(client, {"preview_doc": invoice["doc"], "preview_contact": invoice["secret"]})
    assert "Carlo Segreto" not in page and "carlo@rossi.example" not in page
    assert "Anna Verdi" in page


def test_preview_with_clearance_shows_the_confidential_contact(client, auth, invoice):
    """With enough clearance the contact can be chosen."""
    auth.login("admin", clearance=3)
    page = preview(client, {"preview_doc": invoice["doc"], "preview_contact": invoice["secret"]})
    assert "Gentile Carlo Segreto" in page


def test_preview_ignores_a_document_of_another_type(client, auth, invoice):
    """A DDT id on the invoice editor falls back to an invoice."""
    auth.login("admin")
    page = preview(client, {"preview_doc": invoice["ddt"]})
    assert "Fattura 2026/77" in page and "D-9" not in page


def test_preview_shows_errors_with_lines(client, auth, invoice):
    """An unknown placeholder shows up in the live preview with its line."""
    auth.login("admin")
    page = preview(client, {"body_html": "<p>uno</p>\n<p>{{ contatto.cognome }}</p>"})
    assert "riga 2" in page and "contatto.cognome" in page


def test_preview_without_documents_uses_sample_data(client, auth):
    """No document of the type yet: the preview says so and uses sample data."""
    auth.login("admin")
    page = preview(client, {})
    assert "dati di esempio" in page and "Fattura 2026/142" in page


def test_editor_page_documents_placeholders_and_settings(client, auth, invoice):
    """The editor shows the current text, the placeholders, the preview and the sending settings."""
    auth.login("admin")
    response = client.get(f"/modelli/FATTURA/it?preview_doc={invoice['doc']}")
    page = htmllib.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Fattura n. {{ documento.numero }}" in page
    assert "documento.partite_aperte[].residuo" in page and "documento.partite_scadute" in page
    assert "Gentile Anna Verdi" in page
    assert "Ccn/BCC" in page and "PEC" in page
    assert 'hx-post="/modelli/FATTURA/it/anteprima"' in page


def test_save_creates_a_new_version_and_batches_keep_the_old(client, auth, app, invoice):
    """Done-when: change the invoice subject; new sends use it, a batch prepared before keeps v1."""
    auth.login("admin")
    with app.app_context():
        snapshot = svc.snapshot_versions(["FATTURA"])  # what a batch stores in Batch.template_versions
        old = svc.render_for(
            "FATTURA", "it", svc.build_context([invoice["doc"]]), version=snapshot["FATTURA"]["it"]
        )
    response = client.post(
        "/modelli/FATTURA/it",
        data={
            "subject": "La Vostra fattura {{ documento.numero }}",
            "body_html": "<p>Nuovo testo</p>",
            "body_text": "",
            "note": "oggetto più cortese",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        current = svc.current_version("FATTURA", "it")
        assert current.number == 2 and current.note == "oggetto più cortese"
        context = svc.build_context([invoice["doc"]])
        assert svc.render_for("FATTURA", "it", context).subject == "La Vostra fattura 2026/77"
        again = svc.render_for("FATTURA", "it", context, version=snapshot["FATTURA"]["it"])
        assert again.subject == old.subject == "Fattura n. 2026/77 del 05/03/2026 – La mia azienda S.r.l."
        assert (
            db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "template.save")) is not None
        )
    history = client.get("/modelli/FATTURA/it").get_data(as_text=True)
    assert "oggetto più cortese" in history and "/modelli/FATTURA/it/versioni/1" in history
    old_page = htmllib.unescape(client.get("/modelli/FATTURA/it/versioni/1").get_data(as_text=True))
    assert "Fattura n. {{ documento.numero }}" in old_page and "Ripristina come versione 3" in old_page


def test_save_refuses_errors_at_their_line(client, auth, app):
    """Unknown placeholder or broken syntax: 422, error at the line, nothing saved, text kept."""
    auth.login("admin")
    body = "<p>Gentile cliente,</p>\n<p>riga due</p>\n<p>{{ documento.totalle }}</p>"
    response = client.post(
        "/modelli/FATTURA/it", data={"subject": "Fattura", "body_html": body, "body_text": ""}
    )
    page = htmllib.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Corpo HTML, riga 3" in page and "documento.totalle" in page and "forse «documento.totale»" in page
    assert 'class="has-error"' in page and "riga due" in page  # the listing with the faulty line marked
    with app.app_context():
        assert svc.current_version("FATTURA", "it").number == 1
    response = client.post(
        "/modelli/FATTURA/it", data={"subject": "Fattura {% if %}", "body_html": "<p>x</p>"}
    )
    assert response.status_code == 422 and "Oggetto, riga 1" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{% include 'base.html' %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "<p>Approfitta della promozione!</p>",
    ],
)
def test_save_refuses_templates_that_would_leak_fail_or_promote(client, auth, app, body):
    """A template that would leak, hang or carry promotion cannot be saved."""
    auth.login("admin")
    response = client.post("/modelli/FATTURA/it", data={"subject": "Fattura", "body_html": body})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(TemplateVersion.id))) == 24


def test_versions_are_immutable(app_ctx):
    """A saved version cannot be changed in place."""
    version = svc.current_version("DDT", "it")
    version.subject = "cambiato"
    with pytest.raises(ValueError):
        db.session.flush()
    db.session.rollback()


def test_restore_an_old_version(client, auth, app):
    """Restoring v1 saves its text as v3."""
    auth.login("admin")
    client.post(
        "/modelli/DDT/en", data={"subject": "Delivery {{ documento.numero }}", "body_html": "<p>x</p>"}
    )
    response = client.post("/modelli/DDT/en/versioni/1/ripristina")
    assert response.status_code == 302
    with app.app_context():
        current = svc.current_version("DDT", "en")
        first = db.session.scalar(
            db.select(TemplateVersion).where(
                TemplateVersion.template_id == current.template_id, TemplateVersion.number == 1
            )
        )
        assert current.number == 3 and current.subject == first.subject and "Ripristino" in current.note


def test_sending_settings_are_saved(client, auth, app):
    """By PEC, PDF, grouping, reply-to, CC and account are saved for the type."""
    auth.login("admin")
    with app.app_context():
        account_id = make_account("Documenti").id
        db.session.commit()
    response = client.post(
        "/modelli/DDT/impostazioni",
        data={
            "language": "it",
            "by_pec": "on",
            "group_per_recipient": "on",
            "reply_to": "logistica@esempio.it",
            "cc_address": "archivio@esempio.it",
            "account_id": str(account_id),
        },
    )
    assert response.status_code == 302
    with app.app_context():
        t = db.session.get(DocumentType, "DDT")
        assert (t.by_pec, t.attach_pdf, t.group_per_recipient, t.reply_to, t.cc_address, t.account_id) == (
            True,
            False,
            True,
            "logistica@esempio.it",
            "archivio@esempio.it",
            account_id,
        )
        assert (t.schedule_cron, t.auto_approve) == ("", False)
    client.post(
        "/modelli/DDT/impostazioni",
        data={"language": "it", "schedule_cron": " 0  18 * * 1-5 ", "auto_approve": "on"},
    )
    with app.app_context():
        t = db.session.get(DocumentType, "DDT")
        assert (t.schedule_cron, t.auto_approve) == ("0 18 * * 1-5", True)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"reply_to": "non-un-indirizzo"}, "Indirizzo di risposta non valido"),
        ({"cc_address": "a@b.it, c@d.it"}, "Indirizzo in copia non valido"),
        # the one e-mail check (email-validator) refuses what the old regex let through
        ({"reply_to": "a..b@esempio.it"}, "Indirizzo di risposta non valido"),
        ({"cc_address": "copia@-esempio.it"}, "Indirizzo in copia non valido"),
        ({"reply_to": "x@esem_pio.it"}, "Indirizzo di risposta non valido"),
        ({"account_id": "999"}, "Account inesistente"),
        ({"schedule_cron": "ogni sera"}, "Pianificazione non valida"),
    ],
)
def test_sending_settings_errors_write_nothing(client, auth, app, data, message):
    """An invalid field: 422 with the message next to it, and nothing written."""
    auth.login("admin")
    response = client.post("/modelli/FATTURA/impostazioni", data={"language": "it", "by_pec": "on", **data})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        t = db.session.get(DocumentType, "FATTURA")
        assert (t.by_pec, t.reply_to, t.cc_address, t.account_id, t.schedule_cron) == (
            False,
            "",
            "",
            None,
            "",
        )


def test_pec_account_cannot_be_bound_to_a_type(client, auth, app):
    """The PEC account is chosen automatically for PEC recipients: not selectable as the type's account."""
    auth.login("admin")
    with app.app_context():
        pec_id = make_account("Pec", kind="pec", default=False).id
        db.session.commit()
    response = client.post(
        "/modelli/FATTURA/impostazioni", data={"language": "it", "account_id": str(pec_id)}
    )
    assert response.status_code == 422


def test_signature_is_appended_to_every_body(client, auth, app, invoice):
    """The account signature ends the HTML and the text; without one the company signature is used."""
    auth.login("admin")
    with app.app_context():
        account_id = make_account("Amministrazione").id
        db.session.commit()
    response = client.post(
        f"/modelli/firme/{account_id}",
        data={"signature_html": "<p>Ufficio amministrazione<br>Tel. 011 555</p>"},
    )
    assert response.status_code == 302
    with app.app_context():
        account = db.session.get(MailAccount, account_id)
        mail = svc.render_for("INSOLUTO", "it", svc.build_context([invoice["doc"]], account=account))
        assert mail.html.rstrip().endswith("</div>") and "Ufficio amministrazione" in mail.html
        assert "-- \nUfficio amministrazione" in mail.text
        plain = svc.render_for("INSOLUTO", "it", svc.build_context([invoice["doc"]]))
        assert "La mia azienda S.r.l." in plain.html.split('class="firma"')[1]
    page = client.get("/modelli/firme").get_data(as_text=True)
    assert "Ufficio amministrazione" in htmllib.unescape(page)


def test_signature_with_script_is_refused(client, auth, app):
    """A signature cannot carry scripts or event handlers."""
    auth.login("admin")
    with app.app_context():
        account_id = make_account("Amministrazione").id
        db.session.commit()
    response = client.post(
        f"/modelli/firme/{account_id}", data={"signature_html": '<img src=x onerror="alert(1)">'}
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(MailAccount, account_id).signature_html == ""


def test_signatures_page_empty_state(client, auth):
    """Without accounts the page says what to do next and shows the default signature."""
    auth.login("admin")
    page = client.get("/modelli/firme").get_data(as_text=True)
    assert "Nessun account di invio" in page
