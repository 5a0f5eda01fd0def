"""Preparation that a person can trust: re-sends are warned and confirmed (12.3), no empty or stale
batches and scheduled runs that miss nothing (12.6), one bad document never stops a preparation (14.2).

Real SMTP server, real wkhtmltopdf, real Redis; SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Batch, Delivery, Document, DocumentType
from tests.support.batches import approve_from_page, make_document, office_data, prepare_by_cli, run_jobs
from tests.support.documents import bearer

NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}


@pytest.fixture
def office(app, smtp_server):
    """Demo-like office data (invoices F1 alfa, F2 beta without e-mail, F3 gamma confidential, DDT D1+D2)."""
    with app.app_context():
        return office_data(smtp_server)


def _users(make_user):
    """An operator who prepares, a second operator, a manager who approves."""
    for name, roles in (("op", ["operator"]), ("op2", ["operator"]), ("boss", ["manager"])):
        make_user(name, roles=roles, clearance=3, send_types=["FATTURA", "DDT", "ESTRATTO_CONTO"])


def _batch_id(response) -> int:
    """The batch id from a redirect to its page."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))


def _send_invoices_once(app, runner):
    """Prepare, approve and send November's invoices through the CLI; returns the batch id."""
    result = prepare_by_cli(runner)
    assert result.exit_code == 0, result.output
    batch_id = json.loads(result.output)["batch"]
    assert runner.invoke(args=["batch", "approve", str(batch_id), "--user", "boss"]).exit_code == 0
    sent = runner.invoke(args=["batch", "send", str(batch_id), "--wait", "--timeout", "60"])
    assert sent.exit_code == 0, sent.output
    return batch_id


def _rows(batch_id):
    """(status, recipient, document numbers, warnings) of every delivery of a batch."""
    rows = db.session.scalars(
        db.select(Delivery).where(Delivery.batch_id == batch_id).order_by(Delivery.id)
    ).all()
    return [
        (
            d.status,
            d.recipient_email,
            sorted(doc.number for doc in d.documents),
            d.warnings or [],
            d.exclusion_reason,
        )
        for d in rows
    ]


# ---------------------------------------------------------------- 12.3 re-sends


def test_resend_from_the_web_is_warned_counted_and_needs_a_confirmation(
    app, make_user, client, auth, office, runner, smtp_server
):
    """Invoices sent once, prepared again with «anche già inviati»: each re-send names when and to whom
    it went; the approval box counts re-sends, documents without recipient and exclusions; approving
    without ticking the confirmation is refused in Italian, with it the batch is approved."""
    _users(make_user)
    _send_invoices_once(app, runner)
    assert smtp_server.accepted_to("amm@alfa.example") == 1
    auth.login("op", create=False)
    batch_id = _batch_id(
        client.post("/invii/nuovo", data={"type": ["FATTURA"], "only_unsent": "0", **NOVEMBER})
    )
    run_jobs(app)
    with app.app_context():
        rows = {r[1]: r for r in _rows(batch_id)}
        first_send = db.session.scalar(
            db.select(Delivery.sent_at).where(
                Delivery.recipient_email == "amm@alfa.example", Delivery.status == "sent"
            )
        )
        from mailer.formatting import it_datetime

        when = it_datetime(first_send)
    warning = " ".join(rows["amm@alfa.example"][3])
    assert "Già inviato" in warning and when in warning and "F1" in warning
    assert "amm@alfa.example" not in warning  # stored without addresses; named on the page, for the viewer
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert f"Già inviato: FATTURA F1 il {when} a amm@alfa.example" in page
    auth.logout()

    auth.login("boss", create=False)
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    box = page[page.index('class="approval') :]
    assert re.search(r"2</strong>\s*messaggi con documenti già inviati", box)  # F1 to alfa, F3 to gamma
    assert re.search(r"1</strong>\s*document[oi] senza destinatario", box)  # F2 (beta has no e-mail)
    assert re.search(r"0</strong>\s*messaggi esclusi", box)
    assert 'name="confirm_resend"' in box
    response = approve_from_page(client, batch_id)  # the box not ticked
    assert response.status_code == 302
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "già inviati" in page and "conferma" in page.lower()
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    seen = re.search(r'name="reviewed" value="([0-9a-f]+)"', page).group(1)
    response = client.post(f"/invii/{batch_id}/approva", data={"reviewed": seen, "confirm_resend": "1"})
    assert response.status_code == 302
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.status == "approved"
        event = db.session.scalar(
            db.select(AuditEvent).where(
                AuditEvent.action == "batch.approve", AuditEvent.object_id == str(batch_id)
            )
        )
        assert event.details.get("resends") == 2


def test_resend_chosen_on_the_documents_page_is_warned(app, make_user, client, auth, office, runner):
    """A document ticked on the documents page after it was sent: warned too."""
    _users(make_user)
    _send_invoices_once(app, runner)
    auth.login("op", create=False)
    batch_id = _batch_id(client.post("/invii/nuovo", data={"document_id": [office["docs"]["f1"]]}))
    run_jobs(app)
    with app.app_context():
        ((status, recipient, numbers, warnings, _),) = _rows(batch_id)
        assert (status, recipient, numbers) == ("pending", "amm@alfa.example", ["F1"])
        assert any("Già inviato: FATTURA F1 il" in w for w in warnings)
        assert db.session.scalar(db.select(Delivery.already_sent_at).where(Delivery.batch_id == batch_id))


def test_resend_warning_hides_a_recipient_made_confidential_later(
    app, make_user, client, auth, office, runner, smtp_server
):
    """F1 went to the administration and to a manager's address; prepared again, then the manager's contact
    became confidential: a reviewer of low clearance reads the re-send warning without that address (it is
    rendered when viewed, with the contact's level of now, and never stored with addresses)."""
    from mailer.models import Contact

    with app.app_context():
        director = Contact(
            party_id=office["parties"]["alfa"], name="Direttore", email="direttore@alfa.example", active=True
        )
        director.document_types = [db.session.get(DocumentType, "FATTURA")]
        db.session.add(director)
        db.session.commit()
        director_id = director.id
    _users(make_user)
    make_user("basso", roles=["manager"], clearance=0, send_types=["FATTURA"])
    _send_invoices_once(app, runner)
    assert smtp_server.accepted_to("direttore@alfa.example") == 1
    auth.login("op", create=False)
    batch_id = _batch_id(client.post("/invii/nuovo", data={"document_id": [office["docs"]["f1"]]}))
    run_jobs(app)
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert " a direttore@alfa.example" in page and " a amm@alfa.example" in page  # both visible, for now
    auth.logout()
    with app.app_context():
        db.session.get(Contact, director_id).privacy_level = 3
        db.session.commit()
        stored = " ".join(w for d in db.session.scalars(db.select(Delivery)) for w in d.warnings or [])
    assert "Già inviato" in stored and "direttore@alfa.example" not in stored
    auth.login("basso", create=False)
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Già inviato: FATTURA F1 il" in page
    assert " a amm@alfa.example" in page and " a direttore@alfa.example" not in page


def test_resend_by_cli_needs_the_explicit_flag(app, make_user, runner, office, smtp_server):
    """`batch prepare --all` then `batch approve` without --confirm-resend is refused; with it, approved."""
    _users(make_user)
    _send_invoices_once(app, runner)
    result = prepare_by_cli(runner, "--all")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["resends"] == 2
    refused = runner.invoke(args=["batch", "approve", str(out["batch"]), "--user", "boss"])
    assert refused.exit_code != 0 and "già inviati" in refused.output and "--confirm-resend" in refused.output
    with app.app_context():
        assert db.session.get(Batch, out["batch"]).status == "ready"
    approved = runner.invoke(
        args=["batch", "approve", str(out["batch"]), "--user", "boss", "--confirm-resend"]
    )
    assert approved.exit_code == 0, approved.output
    with app.app_context():
        assert db.session.get(Batch, out["batch"]).status == "approved"


def test_resend_warning_never_names_a_more_confidential_earlier_recipient(app, make_user, runner, office):
    """Gamma's invoice went to its confidential CEO (level 3); re-sent to a new public contact, the warning
    says when it went but not to whom."""
    _users(make_user)
    _send_invoices_once(app, runner)
    from mailer.models import Contact

    with app.app_context():
        contact = Contact(
            party_id=office["parties"]["gamma"],
            name="Ufficio",
            email="info@gamma.example",
            privacy_level=0,
            active=True,
        )
        contact.document_types = [db.session.get(DocumentType, "FATTURA")]
        db.session.add(contact)
        db.session.commit()
    result = prepare_by_cli(runner, "--all")
    batch_id = json.loads(result.output)["batch"]
    with app.app_context():
        rows = {r[1]: r for r in _rows(batch_id)}
    public = " ".join(rows["info@gamma.example"][3])
    assert "Già inviato" in public and "ceo@gamma.example" not in public
    with app.app_context():
        from mailer.services.preparation import resend_notes

        deliveries = {
            d.recipient_email: d
            for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
        }
        notes = resend_notes(list(deliveries.values()), clearance=3)
        assert "ceo@gamma.example" in " ".join(notes[deliveries["ceo@gamma.example"].id])
        assert "ceo@gamma.example" not in " ".join(notes[deliveries["info@gamma.example"].id])


# ---------------------------------------------------------------- 12.6 no empty or stale batches


def test_nothing_to_prepare_creates_no_batch_and_says_so(app, make_user, client, auth, office, runner):
    """A period without documents, or documents all already in a waiting batch: no batch, a message (page, CLI)."""
    _users(make_user)
    auth.login("op", create=False)
    page = client.post(
        "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "2020-01-01", "date_to": "2020-01-31"}
    )
    assert page.status_code == 400 and "Nessun documento da preparare" in page.get_data(as_text=True)
    result = prepare_by_cli(runner, start="2020-01-01", end="2020-01-31", as_json=False)
    assert result.exit_code != 0 and "Nessun documento da preparare" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 0
    first = _batch_id(client.post("/invii/nuovo", data={"type": ["FATTURA"], **NOVEMBER}))
    run_jobs(app)
    page = client.post("/invii/nuovo", data={"document_id": [office["docs"]["f1"]]})
    assert page.status_code == 400 and "Nessun documento da preparare" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(Batch.id)).all() == [first]


def test_preparer_discards_a_waiting_batch_and_its_documents_are_free_again(
    app, make_user, client, auth, office
):
    """The preparer (or a manager) discards a batch waiting for approval: audited, documents free again;
    another operator may not, and an approved batch cannot be discarded."""
    _users(make_user)
    auth.login("op", create=False)
    batch_id = _batch_id(client.post("/invii/nuovo", data={"type": ["FATTURA"], **NOVEMBER}))
    run_jobs(app)
    assert "Scarta l'invio" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    auth.logout()
    auth.login("op2", create=False)
    assert "Scarta l'invio" not in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    client.post(f"/invii/{batch_id}/scarta")
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    auth.logout()
    auth.login("op", create=False)
    assert client.post(f"/invii/{batch_id}/scarta").status_code == 302
    assert "Invio scartato" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.status == "cancelled"
        assert not db.session.scalar(
            db.select(db.func.count(Delivery.id)).where(
                Delivery.batch_id == batch_id, Delivery.status == "pending"
            )
        )
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "batch.discard"))
        assert event is not None and event.object_id == str(batch_id) and event.username == "op"
    again = _batch_id(client.post("/invii/nuovo", data={"type": ["FATTURA"], **NOVEMBER}))
    run_jobs(app)
    with app.app_context():
        assert sorted(n for r in _rows(again) for n in r[2]) == ["F1", "F2", "F3"]
    auth.logout()
    auth.login("boss", create=False)  # a manager may discard someone else's batch; an approved one stays
    approve_from_page(client, again)
    client.post(f"/invii/{again}/scarta")
    with app.app_context():
        assert db.session.get(Batch, again).status == "approved"


def test_discard_by_cli(app, make_user, runner, office):
    """`batch discard` follows the same rules."""
    _users(make_user)
    batch_id = json.loads(prepare_by_cli(runner).output)["batch"]
    refused = runner.invoke(args=["batch", "discard", str(batch_id), "--user", "op2"])
    assert refused.exit_code != 0 and "chi l'ha preparato" in refused.output
    assert runner.invoke(args=["batch", "discard", str(batch_id), "--user", "op"]).exit_code == 0
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "cancelled"


def _work(app):
    """Run the queued jobs (preparations)."""
    run_jobs(app)


def test_schedule_takes_every_unsent_document_and_catches_up_and_creates_nothing_when_nothing(app, office):
    """A DDT schedule at 18:00: it takes every unsent DDT (not only the day's), a run missed by hours is
    caught up at the next tick, and a run with nothing to send creates no batch."""
    from mailer.models import Party
    from mailer.services.schedules import run_due_schedules

    with app.app_context():
        db.session.get(DocumentType, "DDT").schedule_cron = "0 18 * * *"
        alfa = db.session.get(Party, office["parties"]["alfa"])
        make_document(alfa, "DDT", "D-OLD", day=date(2026, 11, 2))  # a week old, never sent
        db.session.commit()
        first = run_due_schedules(datetime(2026, 11, 10, 18, 0, 30))
        assert len(first) == 1
    _work(app)
    with app.app_context():
        assert sorted(n for r in _rows(first[0]) for n in r[2]) == ["D-OLD", "D1", "D2"]
        assert run_due_schedules(datetime(2026, 11, 10, 18, 5)) == []  # same due time: once
        alfa = db.session.get(Party, office["parties"]["alfa"])
        make_document(alfa, "DDT", "D3", day=date(2026, 11, 11))
        db.session.commit()
        # The scheduler was down at 18:00 on the 11th and comes back at 21:00: the run is caught up.
        late = run_due_schedules(datetime(2026, 11, 11, 21, 0))
        assert len(late) == 1
    _work(app)
    with app.app_context():
        assert [r[2] for r in _rows(late[0])] == [["D3"]]
        # The 12th: every DDT is already in a batch waiting for approval: nothing to send, no batch.
        before = db.session.scalar(db.select(db.func.count(Batch.id)))
        assert run_due_schedules(datetime(2026, 11, 12, 18, 0, 10)) == []
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == before
        assert run_due_schedules(datetime(2026, 11, 12, 18, 3)) == []


# ---------------------------------------------------------------- 14.2 one bad document


@pytest.mark.parametrize(
    "type_code, extra, field",
    [
        ("ESTRATTO_CONTO", {"open_items": "notalist"}, "extra.open_items"),
        ("ESTRATTO_CONTO", {"open_items": [1, {"amount": "10"}]}, "extra.open_items[0]"),
        (
            "ESTRATTO_CONTO",
            {"open_items": [{"number": "F1", "amount": "tanti"}]},
            "extra.open_items[0].amount",
        ),
        (
            "INSOLUTO",
            {"overdue_items": [{"due_date": "ieri", "amount": 5}]},
            "extra.overdue_items[0].due_date",
        ),
        ("AVVISO_BONIFICO", {"paid_items": {"number": "1"}}, "extra.paid_items"),
        ("FATTURA", {"vat_summary": [{"rate": "ventidue"}]}, "extra.vat_summary[0].rate"),
        ("FATTURA", {"references": "ordine 5"}, "extra.references"),
        ("FATTURA", {"customer": "Rossi"}, "extra.customer"),
        ("OFFERTA", {"valid_until": "fine mese"}, "extra.valid_until"),
        ("GENERICO", {"body": ["a", "b"]}, "extra.body"),
        ("DDT", {"weight_kg": "pesante"}, "extra.weight_kg"),
    ],
)
def test_api_refuses_extra_the_templates_cannot_use(client, make_token, type_code, extra, field):
    """What the API stores in `extra` has the shape the templates read: else 422 naming the field."""
    token = make_token()
    client.post("/api/v1/parties", json={"code": "C1", "name": "Rossi S.r.l."}, headers=bearer(token))
    payload = {"type": type_code, "number": "X1", "date": "2026-11-10", "party_code": "C1", "extra": extra}
    response = client.post("/api/v1/documents", json=payload, headers=bearer(token))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"], response.get_json()


def test_api_accepts_well_formed_extra(client, make_token):
    """Lists of objects, ISO dates, numbers as strings, free text: accepted as they are."""
    token = make_token()
    client.post("/api/v1/parties", json={"code": "C1", "name": "Rossi S.r.l."}, headers=bearer(token))
    extra = {
        "open_items": [
            {
                "number": "F1",
                "date": "2026-10-01",
                "due_date": "2026-10-31",
                "amount": "1.234,50",
                "paid": 0,
                "balance": "1234.50",
            },
            {"number": "NC2", "debit": "", "credit": 10},
        ],
        "as_of": "2026-11-10",
        "notes": ["Grazie"],
        "reference": "Ordine 5",
        "open_balance": 1224.5,
    }
    response = client.post(
        "/api/v1/documents",
        json={
            "type": "ESTRATTO_CONTO",
            "number": "E1",
            "date": "2026-11-10",
            "party_code": "C1",
            "extra": extra,
        },
        headers=bearer(token),
    )
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()["extra"]
    assert (
        stored["open_items"][0]["amount"] == "1234.50" and stored["open_items"][1]["credit"] == "10"
    )  # normalised
    assert stored["as_of"] == "2026-11-10" and stored["notes"] == ["Grazie"]


def test_a_document_that_cannot_be_rendered_goes_to_the_warnings_and_the_rest_is_prepared(
    app, make_user, runner, office
):
    """Documents stored before the check (`open_items: "notalist"`), among good ones, an invoice and a grouped
    DDT: `batch prepare` succeeds, the bad ones are excluded with their reason, the others are prepared."""
    _users(make_user)
    from mailer.models import Party

    with app.app_context():
        alfa = db.session.get(Party, office["parties"]["alfa"])
        make_document(alfa, "FATTURA", "F-BAD").extra = {"open_items": "notalist"}
        make_document(alfa, "DDT", "D-BAD").extra = {"open_items": "notalist"}
        db.session.commit()
    result = prepare_by_cli(runner, types=("FATTURA", "DDT"))
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "ready"
    with app.app_context():
        rows = _rows(out["batch"])
        by_numbers = {tuple(r[2]): r for r in rows}
        assert by_numbers[("F1",)][0] == "pending" and by_numbers[("F3",)][0] == "pending"
        assert by_numbers[("D1", "D2")][0] == "pending"  # still grouped, without the bad one
        for bad in ("F-BAD", "D-BAD"):
            status, recipient, _, warnings, reason = by_numbers[(bad,)]
            assert status == "excluded" and recipient == "" and reason == "Documento non preparabile"
            assert any(
                bad in w
                and "extra.open_items: deve essere una lista" in w
                and "'str' object has no attribute 'get'" in w
                for w in warnings
            ), warnings
        assert db.session.scalar(db.select(Document.pdf_sha256).where(Document.number == "F1"))
        # An unpreparable row cannot be included again.
        from mailer.models import User
        from mailer.services import approval

        bad_id = db.session.scalar(
            db.select(Delivery.id).where(
                Delivery.batch_id == out["batch"], Delivery.exclusion_reason == "Documento non preparabile"
            )
        )
        boss = db.session.scalar(db.select(User).where(User.username == "boss"))
        assert approval.set_excluded(db.session.get(Batch, out["batch"]), [bad_id], False, boss) == 0
        assert db.session.get(Delivery, bad_id).status == "excluded"


def test_a_broken_converter_still_fails_the_whole_preparation_with_its_reason(app, make_user, office):
    """Not one PDF can be made (wkhtmltopdf missing): not a batch of "non preparabile" rows, but a failed
    preparation that says why."""
    from mailer.models import User
    from mailer.pdf import PdfRenderError
    from mailer.services import preparation

    _users(make_user)
    app.config["WKHTMLTOPDF"] = "/nonexistent/wkhtmltopdf"
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "op"))
        selection = preparation.Selection(
            type_codes=["FATTURA"], date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)
        )
        batch_id = preparation.create_batch(selection, user, enqueue=False).id
        with pytest.raises(PdfRenderError):
            preparation.run_preparation(batch_id)
        batch = db.session.get(Batch, batch_id)
        assert batch.status == "failed" and "wkhtmltopdf non trovato" in batch.error
        assert not db.session.scalar(
            db.select(db.func.count(Delivery.id)).where(Delivery.batch_id == batch_id)
        )


def test_documents_taken_meanwhile_leave_a_failed_batch_that_says_why(app, make_user, office):
    """Two preparations requested at once for the same documents: the second finds nothing when its job
    runs; it ends "failed" with the Italian reason instead of a crash or an empty batch waiting for approval."""
    from mailer.models import User
    from mailer.services import preparation

    _users(make_user)
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "op"))
        selection = preparation.Selection(
            type_codes=["FATTURA"], date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)
        )
        first = preparation.create_batch(selection, user, enqueue=False).id
        second = preparation.create_batch(selection, user, enqueue=False).id
        assert preparation.run_preparation(first).status == "ready"
        batch = preparation.run_preparation(second)
        assert batch.status == "failed" and batch.error.startswith("Nessun documento da preparare")
        assert not db.session.scalar(db.select(db.func.count(Delivery.id)).where(Delivery.batch_id == second))


def test_summary_link_points_to_the_address_the_batch_was_prepared_from(app, make_user, client, auth, office):
    """Without PUBLIC_BASE_URL the summary linked to https://localhost: the page now records its own address."""
    from mailer.services.batch_summary import results_url

    _users(make_user)
    app.config["PUBLIC_BASE_URL"] = ""
    auth.login("op", create=False)
    batch_id = _batch_id(client.post("/invii/nuovo", data={"type": ["FATTURA"], **NOVEMBER}))
    with app.app_context():
        assert results_url(db.session.get(Batch, batch_id)) == f"http://localhost/invii/{batch_id}"
