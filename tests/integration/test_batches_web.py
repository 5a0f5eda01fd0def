"""The batch flow through the web pages and the CLI, with a real worker, SMTP server and wkhtmltopdf."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery
from tests.support.batches import approve_from_page, office_data, prepare_by_cli, reviewed, run_jobs


def work(app, max_wait: float = 5.0):
    """Run queued jobs (and scheduled ones as they fall due)."""
    run_jobs(app, max_wait)


@pytest.fixture
def office(app, smtp_server):
    """Demo-like office data and the users of the flow."""
    with app.app_context():
        data = office_data(smtp_server)
    return data


def _batch_id(response) -> int:
    """The batch id from a redirect to its page."""
    return int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))


def test_prepare_review_approve_send_results(app, client, auth, office, smtp_server):
    """Operator prepares, manager approves and sends, results list every recipient with its outcome."""
    auth.login("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    response = client.post(
        "/invii/nuovo",
        data={
            "type": ["FATTURA", "DDT"],
            "date_from": "2026-11-01",
            "date_to": "2026-11-30",
            "only_unsent": "1",
        },
    )
    assert response.status_code == 302
    batch_id = _batch_id(response)
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Preparazione in corso" in page and "<progress" in page
    work(app)
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "amm@alfa.example" in page and "log@alfa.example" in page
    assert "Solo un responsabile può approvare" in page
    # Without-recipient list names the party and offers the fix.
    missing = client.get(f"/invii/{batch_id}?vista=norecipient").get_data(as_text=True)
    assert "BETA S.p.A." in missing and "Reindirizza" in missing
    # Preview: headers, body frame, the PDF attachment.
    with app.app_context():
        invoice = db.session.scalar(
            db.select(Delivery).where(
                Delivery.batch_id == batch_id, Delivery.recipient_email == "amm@alfa.example"
            )
        )
        invoice_id, doc_id = invoice.id, invoice.documents[0].id
        ddt_id = db.session.scalar(
            db.select(Delivery.id).where(
                Delivery.batch_id == batch_id, Delivery.recipient_email == "log@alfa.example"
            )
        )
    preview = client.get(f"/invii/{batch_id}/recapiti/{invoice_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "F1" in preview and "fatture@azienda.example" in preview and "FATTURA_2026_F1.pdf" in preview
    body = client.get(f"/invii/{batch_id}/recapiti/{invoice_id}/corpo")
    assert "sandbox" in body.headers["Content-Security-Policy"] and "F1" in body.get_data(as_text=True)
    pdf = client.get(f"/invii/{batch_id}/recapiti/{invoice_id}/documenti/{doc_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # Exclude the DDT message with htmx; the fragment comes back updated.
    fragment = client.post(
        f"/invii/{batch_id}/escludi",
        data={"delivery_id": [ddt_id], "action": "exclude"},
        headers={"HX-Request": "true", "HX-Target": "review"},
    )
    assert "1 destinatari esclusi" in fragment.get_data(as_text=True)
    auth.logout()

    auth.login("capo", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    response = approve_from_page(client, batch_id, send_now=True)
    assert response.status_code == 302
    work(app)
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.status == "done" and batch.approved_by.username == "capo"
    assert smtp_server.accepted_to("amm@alfa.example") == 1
    assert smtp_server.accepted_to("log@alfa.example") == 0  # excluded
    results = client.get(f"/invii/{batch_id}?vista=sent").get_data(as_text=True)
    assert "amm@alfa.example" in results and "Inviato" in results
    exported = client.get(f"/invii/{batch_id}/esiti.csv")
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    by_recipient = {r[0]: r for r in rows[1:]}
    assert by_recipient["amm@alfa.example"][4] == "Inviato"
    assert by_recipient["log@alfa.example"][4] == "Escluso"
    xlsx = client.get(f"/invii/{batch_id}/esiti.xlsx")
    assert xlsx.data[:2] == b"PK"
    # The .eml download is the message that left.
    eml = client.get(f"/invii/{batch_id}/recapiti/{invoice_id}/messaggio.eml")
    assert eml.status_code == 200
    received = next(m for m in smtp_server.messages if "amm@alfa.example" in m.rcpt_tos)
    assert eml.data.replace(b"\r\n", b"\n").rstrip() == received.data.replace(b"\r\n", b"\n").rstrip()
    # The dashboard chart counts today's two invoices (Alfa and Gamma) per document type.
    dashboard = client.get("/").get_data(as_text=True)
    assert re.search(
        r"Fattura \(copia di cortesia\)</td><td class=\"num\">2</td><td class=\"num\">0</td>", dashboard
    )
    assert ": 2 inviati</title>" in dashboard


def test_low_clearance_does_not_see_confidential_recipient(app, client, auth, office, smtp_server):
    """A clearance-1 user sees neither the confidential recipient nor its count, nor in the export."""
    auth.login("operatore", roles=["operator"], clearance=3, send_types=["FATTURA"])
    batch_id = _batch_id(
        client.post(
            "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "2026-11-01", "date_to": "2026-11-30"}
        )
    )
    work(app)
    assert "ceo@gamma.example" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    auth.logout()
    auth.login("basso", roles=["operator"], clearance=1, send_types=["FATTURA"])
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "ceo@gamma.example" not in page and "GAMMA" not in page
    assert "ceo@gamma.example" not in client.get(f"/invii/{batch_id}/esiti.csv").data.decode()
    with app.app_context():
        hidden = db.session.scalar(
            db.select(Delivery.id).where(Delivery.recipient_email == "ceo@gamma.example")
        )
    assert client.get(f"/invii/{batch_id}/recapiti/{hidden}").status_code == 404
    assert client.get(f"/invii/{batch_id}/recapiti/{hidden}/corpo").status_code == 404


@pytest.mark.parametrize(
    "roles, types, status",
    [
        (["sales"], ["FATTURA"], 403),  # wrong role
        (["operator"], ["DDT"], 403),  # may not send the batch's type
        (["operator"], ["FATTURA"], 200),
    ],
)
def test_batch_page_access(app, client, auth, office, roles, types, status):
    """Role and document-type permission both gate the batch pages."""
    from mailer.services import preparation

    with app.app_context():
        from mailer.services.users import create_user

        owner = create_user("owner", "password-lunga-1", roles=["operator"], send_types=["FATTURA"])
        db.session.commit()
        batch = preparation.create_batch(preparation.Selection(type_codes=["FATTURA"]), owner, enqueue=False)
        batch_id = batch.id
    auth.login("utente", roles=roles, send_types=types)
    assert client.get(f"/invii/{batch_id}").status_code == status


def test_operator_cannot_send_or_approve(app, client, auth, office):
    """Approving and sending are for managers; the pages say why."""
    auth.login("operatore", roles=["operator"], send_types=["FATTURA"])
    batch_id = _batch_id(
        client.post(
            "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "2026-11-01", "date_to": "2026-11-30"}
        )
    )
    work(app)
    client.post(f"/invii/{batch_id}/approva", data={"reviewed": reviewed(app, batch_id)})
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    assert client.post(f"/invii/{batch_id}/invia").status_code == 403
    assert client.post(f"/invii/{batch_id}/approva", csrf=False).status_code == 400


def test_approval_covers_only_what_the_approver_saw(app, client, auth, office, smtp_server):
    """A recipient included by someone else after the manager opened the page: the approval is refused
    with the reason, nothing is approved; after a reload the same button works."""
    auth.login("operatore", roles=["operator"], send_types=["FATTURA", "DDT"])
    batch_id = _batch_id(
        client.post(
            "/invii/nuovo",
            data={"type": ["FATTURA", "DDT"], "date_from": "2026-11-01", "date_to": "2026-11-30"},
        )
    )
    work(app)
    with app.app_context():
        ddt_id = db.session.scalar(
            db.select(Delivery.id).where(
                Delivery.batch_id == batch_id, Delivery.recipient_email == "log@alfa.example"
            )
        )
    client.post(f"/invii/{batch_id}/escludi", data={"delivery_id": [ddt_id], "action": "exclude"})
    auth.logout()
    auth.login("capo", roles=["manager"], clearance=3, send_types=["FATTURA", "DDT"])
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    seen = re.search(r'name="reviewed" value="([0-9a-f]+)"', page).group(1)
    with app.app_context():  # meanwhile the operator includes the DDT message again
        db.session.get(Delivery, ddt_id).status = "pending"
        db.session.commit()
    response = client.post(f"/invii/{batch_id}/approva", data={"reviewed": seen, "send_now": "1"})
    assert response.status_code == 302
    assert "cambiato dopo che l&#39;hai aperto" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert (batch.status, batch.approved_by_id) == ("ready", None)
    assert (
        client.post(f"/invii/{batch_id}/approva", data={}).status_code == 302
    )  # no fingerprint: refused too
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    assert approve_from_page(client, batch_id).status_code == 302
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "approved"
    assert not smtp_server.messages  # "Approva e invia" was refused: nothing left


def test_bad_preparation_input_is_explained(client, auth, office):
    """No type, reversed dates, a forbidden type: an Italian message and no batch."""
    auth.login("operatore", roles=["operator"], send_types=["FATTURA"])
    assert "Scegli almeno un tipo" in client.post("/invii/nuovo", data={}).get_data(as_text=True)
    page = client.post(
        "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "2026-12-01", "date_to": "2026-11-01"}
    )
    assert page.status_code == 400 and "successiva" in page.get_data(as_text=True)
    page = client.post("/invii/nuovo", data={"type": ["DDT"]})
    assert "Non sei autorizzato" in page.get_data(as_text=True)
    # dd/mm/yyyy is the form's format (ISO accepted); an American month/day is named as a bad date
    page = client.post("/invii/nuovo", data={"type": ["FATTURA"], "date_from": "12/31/2026"})
    assert "Dal: «12/31/2026» non è una data esistente." in page.get_data(as_text=True)


def test_cli_prepare_approve_send_report(app, runner, office, smtp_server):
    """The CLI follows the same rules and prints the report as JSON lines."""
    with app.app_context():
        from mailer.services.users import create_user

        create_user("op", "password-lunga-1", roles=["operator"], send_types=["FATTURA"])
        create_user("boss", "password-lunga-1", roles=["manager"], clearance=3, send_types=["FATTURA"])
        db.session.commit()
    smtp_server.rules["amm@alfa.example"] = [550]
    result = prepare_by_cli(runner)
    assert result.exit_code == 0, result.output
    batch_id = json.loads(result.output)["batch"]
    denied = runner.invoke(args=["batch", "approve", str(batch_id), "--user", "op"])
    assert denied.exit_code != 0 and "responsabile" in denied.output
    assert runner.invoke(args=["batch", "approve", str(batch_id), "--user", "boss"]).exit_code == 0
    sent = runner.invoke(args=["batch", "send", str(batch_id), "--wait", "--timeout", "60"])
    assert sent.exit_code == 0, sent.output
    report = [
        json.loads(line)
        for line in runner.invoke(args=["batch", "report", str(batch_id), "--json"]).output.splitlines()
    ]
    by_recipient = {r["recipient"]: r for r in report}
    assert by_recipient["amm@alfa.example"]["status"] == "failed"
    assert by_recipient["amm@alfa.example"]["smtp_code"] == 550
    assert by_recipient["ceo@gamma.example"]["status"] == "sent"
    assert (
        by_recipient["ceo@gamma.example"]["message_id"]
        and "<" not in by_recipient["ceo@gamma.example"]["message_id"]
    )
    assert {r["status"] for r in report} <= {"sent", "failed", "uncertain", "excluded", "pending"}
    bad = runner.invoke(args=["batch", "prepare", "--type", "FATTURA", "--from", "novembre", "--user", "op"])
    assert bad.exit_code != 0 and "gg/mm/aaaa" in bad.output


def test_prepare_from_documents_page_selection(app, client, auth, office):
    """Documents ticked on the documents page become a batch of exactly those documents."""
    auth.login("operatore", roles=["operator"], clearance=3, send_types=["FATTURA", "DDT", "INSOLUTO"])
    page = client.get("/documenti/").get_data(as_text=True)
    assert 'form="prepare-form"' in page
    f1, d1 = office["docs"]["f1"], office["docs"]["d1"]
    response = client.post("/invii/nuovo", data={"document_id": [f1, d1]})
    batch_id = _batch_id(response)
    work(app)
    with app.app_context():
        rows = db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id)).all()
        assert sorted(doc.id for d in rows for doc in d.documents) == sorted([f1, d1])
        assert sorted(db.session.get(Batch, batch_id).type_codes) == ["DDT", "FATTURA"]
