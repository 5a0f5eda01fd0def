"""Issue 12.2: the end-of-batch summary always arrives or says why not.

Against the real loopback SMTP server (aiosmtpd refuses data lines over 1,000 bytes with
"500 Line too long", as the customer's server did): long lines, a 4xx then success through the RQ
retry, a permanent failure and a dead connection shown on the batch page; From, names, link and
the CSV of failed recipients within each reader's clearance.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import g

from mailer.extensions import db
from mailer.models import Batch, Delivery, MailAccount
from mailer.services.batch_summary import send_batch_summary
from mailer.services.sending.outcomes import _finish_if_complete
from mailer.services.users import create_user
from tests.support.batches import make_account, run_jobs
from tests.support.services import free_port

PASSWORD = "password-lunga-1"
BASE = "https://recapito.azienda.example/gestionale"


@pytest.fixture
def people(app_ctx):
    """A preparer (clearance 0) and an approver (clearance 3) with full names and addresses."""
    app_ctx.config["PUBLIC_BASE_URL"] = BASE
    preparer = create_user(
        "mrossi",
        PASSWORD,
        roles=["operator"],
        email="mario.rossi@azienda.example",
        full_name="Mario Rossi",
        clearance=0,
    )
    approver = create_user(
        "gbianchi",
        PASSWORD,
        roles=["manager"],
        email="giulia.bianchi@azienda.example",
        full_name="Giulia Bianchi",
        clearance=3,
    )
    db.session.commit()
    return {"preparer": preparer.id, "approver": approver.id}


def _done_batch(server, people, failures: int = 12, long_reason: str = "", **account) -> int:
    """A batch at the end of sending with `failures` failed deliveries (one level-3) and two sent, through
    the default account on `server`; finished as the sender finishes it (the summary job queued)."""
    from mailer.services.reference import get_company

    get_company().name = "Ferramenta Rossi & C. S.p.A."
    acc = make_account(
        server, name="Ordinario", is_default=True, from_address="fatture@ferramenta.example", **account
    )
    make_account(server, name="PEC", kind="pec", from_address="ferramenta@pec.example")
    batch = Batch(
        kind="documents",
        name="Fatture di novembre",
        status="sending",
        type_codes=["FATTURA"],
        created_by_id=people["preparer"],
        approved_by_id=people["approver"],
    )
    db.session.add(batch)
    db.session.flush()
    for i in range(failures):
        reason = (
            long_reason
            or f"5.1.1 <cliente{i}@esempio.example>: Recipient address rejected: User unknown " * 3
        )
        db.session.add(
            Delivery(
                batch_id=batch.id,
                recipient_email=f"cliente{i}@esempio.example",
                recipient_name=f"Ufficio amministrazione del cliente numero {i}",
                privacy_level=3 if i == 0 else 0,
                account_id=acc.id,
                status="failed",
                subject="Fattura",
                body_text="x",
                smtp_code=550,
                smtp_reason=reason,
            )
        )
    for i in range(2):
        db.session.add(
            Delivery(
                batch_id=batch.id,
                recipient_email=f"ok{i}@esempio.example",
                recipient_name="Ok",
                account_id=acc.id,
                status="sent",
                subject="Fattura",
                body_text="x",
                smtp_code=250,
            )
        )
    db.session.commit()
    assert _finish_if_complete(batch.id) is True
    return batch.id


def _summaries(server) -> dict[str, object]:
    """reader address -> the summary message the server accepted for them (exactly one each)."""
    found: dict[str, object] = {}
    for m in server.messages:
        if m.message["Subject"] and "esito dell'invio" in m.message["Subject"]:
            [rcpt] = m.rcpt_tos
            assert rcpt not in found, f"{rcpt} got the summary twice"
            found[rcpt] = m
    return found


def test_summary_with_long_lines_arrives_from_the_company_account(app_ctx, client, auth, smtp_server, people):
    """A dozen failures with long reasons (one of 1,900 characters on one line): each reader gets it, every
    line within the limit, From the company's address and name, full names, the link and the CSV."""
    long_reason = "4.4.1 Connection timed out after multiple attempts; remote host said: " + "x" * 1830
    batch_id = _done_batch(smtp_server, people, long_reason="")
    db.session.execute(
        db.update(Delivery)
        .where(Delivery.recipient_email == "cliente5@esempio.example")
        .values(smtp_reason=long_reason)
    )
    db.session.commit()
    run_jobs(app_ctx)
    got = _summaries(smtp_server)
    assert set(got) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}
    for reader, message in got.items():
        assert max(len(line) for line in message.data.split(b"\r\n")) <= 998
        assert message.mail_from == "fatture@ferramenta.example"
        assert message.message["From"].addresses[0].addr_spec == "fatture@ferramenta.example"
        assert message.message["From"].addresses[0].display_name == "Ferramenta Rossi & C. S.p.A."
        text = message.message.get_body(("plain",)).get_content()
        html = message.message.get_body(("html",)).get_content()
        assert "Preparato da Mario Rossi, approvato da Giulia Bianchi" in text
        assert "mrossi" not in text + html and "gbianchi" not in text + html
        assert f"{BASE}/invii/{batch_id}" in text and f'href="{BASE}/invii/{batch_id}"' in html
        assert long_reason in text  # the whole reason arrived, encoded, not cut
        [attachment] = list(message.message.iter_attachments())
        assert attachment.get_filename() == f"invio-{batch_id}-non-recapitati.csv"
        rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff")), delimiter=";"))
        listed = {row[0] for row in rows[1:]}
        hidden = "cliente0@esempio.example"  # privacy level 3
        if reader == "mario.rossi@azienda.example":
            assert message.message["To"].addresses[0].display_name == "Mario Rossi"
            assert len(listed) == 11 and hidden not in listed and hidden not in text + html
            assert "11 falliti" in message.message["Subject"]
        else:
            assert len(listed) == 12 and hidden in listed and "12 falliti" in message.message["Subject"]
        assert all(row[4] == "Fallito" or row[4] for row in rows[1:]) and not (
            listed & {"ok0@esempio.example"}
        )
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "sent" and batch.summary_sent_at is not None
    assert {k: v["message_id"] for k, v in batch.summary_messages.items()} == {
        k: m.message["Message-ID"] for k, m in got.items()
    }
    assert send_batch_summary(batch_id) == "sent" and len(_summaries(smtp_server)) == 2  # never twice

    auth.login("admin")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert (
        "E-mail di riepilogo" in page
        and "inviata" in page
        and "Ricevuta da Mario Rossi, Giulia Bianchi" in page
    )


def test_summary_retried_after_4xx_keeps_its_message_id(app_ctx, client, auth, smtp_server, people):
    """451 for one reader: the page says a new attempt is planned; the RQ retry sends it with the same
    Message-ID; the reader already reached is not sent a second copy."""
    smtp_server.rules = {"mario.rossi@azienda.example": [451, "ok"]}
    batch_id = _done_batch(smtp_server, people, failures=2)
    db.session.remove()
    assert send_batch_summary(batch_id, retries_left=1) == "retrying"
    batch = db.session.get(Batch, batch_id)
    assert (
        batch.summary_status == "retrying"
        and "451" in batch.summary_error
        and "Mario Rossi" in batch.summary_error
    )
    auth.login("admin")
    fragment = client.get(f"/invii/{batch_id}", headers={"HX-Request": "true", "HX-Target": "batch-summary"})
    body = fragment.get_data(as_text=True)
    assert 'id="batch-summary"' in body and "nuovo tentativo previsto" in body and "<html" not in body
    assert 'hx-trigger="every 3s"' in body  # follows itself until settled
    run_jobs(app_ctx)  # the job queued at the end of sending: its first run reaches Mario now
    got = _summaries(smtp_server)
    assert set(got) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}
    attempts = smtp_server.header_of_attempts("mario.rossi@azienda.example", "Message-ID")
    assert len(attempts) == 2 and len(set(attempts)) == 1
    g.pop("_login_user", None)  # the jobs removed the session the logged-in user was loaded in
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "sent" and batch.summary_attempts == 2
    assert batch.summary_messages["mario.rossi@azienda.example"]["message_id"] == attempts[0]
    fragment = client.get(f"/invii/{batch_id}", headers={"HX-Request": "true", "HX-Target": "batch-summary"})
    assert "inviata" in fragment.get_data(as_text=True) and "hx-trigger" not in fragment.get_data(
        as_text=True
    )


def test_summary_4xx_through_rq_retries_until_sent(app_ctx, smtp_server, people):
    """Two 4xx in a row, then success: the job raised, RQ retried it twice (Retry), the state ends sent."""
    app_ctx.config["SUMMARY_RETRY_INTERVALS"] = "0,0,0"
    smtp_server.rules = {"giulia.bianchi@azienda.example": [452, 451, "ok"]}
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    assert set(_summaries(smtp_server)) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}
    assert smtp_server.attempts_to("giulia.bianchi@azienda.example") == 3
    assert smtp_server.attempts_to("mario.rossi@azienda.example") == 1
    batch = db.session.get(Batch, batch_id)
    assert (batch.summary_status, batch.summary_attempts) == ("sent", 3)


def test_summary_permanent_failure_is_shown_on_the_page(app_ctx, client, auth, smtp_server, people):
    """A 5xx is not retried: the summary is «non inviata» on the page, with the server's answer and the reader."""
    smtp_server.rules = {"mario.rossi@azienda.example": [550, "ok", "ok"]}
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    assert smtp_server.attempts_to("mario.rossi@azienda.example") == 1
    assert set(_summaries(smtp_server)) == {"giulia.bianchi@azienda.example"}
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "failed" and "550" in batch.summary_error
    auth.login("admin")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "E-mail di riepilogo" in page and "non inviata" in page
    assert "Mario Rossi &lt;mario.rossi@azienda.example&gt;: 550" in page


def test_summary_without_a_server_fails_after_its_retries_and_says_why(app_ctx, client, auth, people):
    """Connection refused on every attempt: retried (RQ), then «non inviata» with the number of attempts."""
    app_ctx.config["SUMMARY_RETRY_INTERVALS"] = "0,0"

    class Nowhere:
        host, port = "127.0.0.1", free_port()

    batch_id = _done_batch(Nowhere, people, failures=1)
    run_jobs(app_ctx)
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "failed" and batch.summary_attempts == 3
    assert "dopo 3 tentativi" in batch.summary_error and "Connessione non riuscita" in batch.summary_error
    auth.login("admin")
    assert "dopo 3 tentativi" in client.get(f"/invii/{batch_id}").get_data(as_text=True)


def test_summary_without_an_ordinary_account_says_so(app_ctx, smtp_server, people):
    """Only a PEC account (or none active): nothing is sent and the reason names what to do."""
    batch_id = _done_batch(smtp_server, people, failures=1)
    db.session.execute(db.update(MailAccount).where(MailAccount.kind != "pec").values(active=False))
    db.session.commit()
    run_jobs(app_ctx)
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "failed" and "Nessun account di invio ordinario" in batch.summary_error
    assert not _summaries(smtp_server)


def test_a_refused_reader_is_not_retried_with_the_others(app_ctx, client, auth, smtp_server, people):
    """5xx for Mario, 451 for Giulia: the RQ retry reaches Giulia and leaves Mario alone (a 5xx is final); the
    page names who received it and who did not."""
    smtp_server.rules = {
        "mario.rossi@azienda.example": [550, "ok"],
        "giulia.bianchi@azienda.example": [451, "ok"],
    }
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    assert smtp_server.attempts_to("mario.rossi@azienda.example") == 1
    assert set(_summaries(smtp_server)) == {"giulia.bianchi@azienda.example"}
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "failed" and batch.summary_attempts == 2
    auth.login("admin")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert (
        "Ricevuta da Giulia Bianchi" in page
        and "Mario Rossi &lt;mario.rossi@azienda.example&gt;: 550" in page
    )


def test_a_summary_whose_job_was_lost_is_sent_by_the_watchdog(app_ctx, smtp_server, people):
    """Redis restarted (it keeps nothing on disk) after the batch ended: the summary's job is gone and the batch
    said «in attesa» for ever. The watchdog queues it again; it is sent."""
    from mailer.jobs.sending import watchdog_job
    from mailer.queue import get_redis

    batch_id = _done_batch(smtp_server, people, failures=1)
    get_redis().flushdb()
    run_jobs(app_ctx)
    assert db.session.get(Batch, batch_id).summary_status == "pending" and not smtp_server.messages
    db.session.get(Batch, batch_id).finished_at -= timedelta(minutes=5)  # the watchdog waits a little first
    db.session.commit()
    report = watchdog_job()
    assert report["summaries"] == {"requeued": 1, "failed": 0}
    run_jobs(app_ctx)
    db.session.remove()
    assert db.session.get(Batch, batch_id).summary_status == "sent"
    assert set(_summaries(smtp_server)) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}


def test_a_summary_job_that_crashes_says_so(app_ctx, smtp_server, people, monkeypatch):
    """An unexpected error while composing (after the state said «in invio»): the job fails loudly (RQ retries it),
    and once out of retries the batch page says «non inviata» and why, instead of «in invio» for ever."""
    from mailer.services import batch_summary

    def broken(*args, **kwargs):
        raise RuntimeError("modello del riepilogo illeggibile")

    monkeypatch.setattr(batch_summary, "_message", broken)
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    batch = db.session.get(Batch, batch_id)
    assert batch.summary_status == "failed", batch.summary_error
    assert "modello del riepilogo illeggibile" in batch.summary_error and batch.summary_attempts == 3
    assert not smtp_server.messages
    # A worker killed in the middle leaves «in invio» and RQ ends the job as failed: the watchdog says so.
    from mailer.jobs.sending import watchdog_job

    batch.summary_status, batch.summary_error = "sending", ""
    batch.finished_at -= timedelta(minutes=5)
    db.session.commit()
    assert watchdog_job()["summaries"] == {"requeued": 0, "failed": 1}
    db.session.remove()
    batch = db.session.get(Batch, batch_id)
    assert (
        batch.summary_status == "failed"
        and "RuntimeError: modello del riepilogo illeggibile" in batch.summary_error
    )


def test_a_manager_resends_a_failed_summary_from_the_page(app_ctx, client, auth, smtp_server, people):
    """After a 5xx (the address fixed meanwhile) a manager presses «Invia di nuovo il riepilogo»: only the reader
    not reached gets it, with the same Message-ID; an operator may not; a sent summary cannot be resent."""
    smtp_server.rules = {"mario.rossi@azienda.example": [550, "ok"]}
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    first_id = db.session.get(Batch, batch_id).summary_messages["mario.rossi@azienda.example"]["message_id"]
    auth.login("operatore", roles=["operator"])
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Invia di nuovo il riepilogo" not in page
    assert client.post(f"/invii/{batch_id}/riepilogo").status_code == 403
    auth.logout()
    g.pop("_login_user", None)  # the app context is shared with the test: forget the operator loaded before
    auth.login("capo", roles=["manager"])
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Invia di nuovo il riepilogo" in page
    response = client.post(f"/invii/{batch_id}/riepilogo")
    assert response.status_code == 302
    g.pop("_login_user", None)
    assert db.session.get(Batch, batch_id).summary_status == "pending"
    run_jobs(app_ctx)
    got = _summaries(smtp_server)
    assert set(got) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}
    assert got["mario.rossi@azienda.example"].message["Message-ID"] == first_id
    assert smtp_server.accepted_to("giulia.bianchi@azienda.example") == 1
    db.session.remove()
    assert db.session.get(Batch, batch_id).summary_status == "sent"
    g.pop("_login_user", None)
    client.post(f"/invii/{batch_id}/riepilogo")
    assert "non si può inviare di nuovo" in client.get(f"/invii/{batch_id}").get_data(as_text=True)
    from mailer.models import AuditEvent

    assert (
        db.session.scalar(
            db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "batch.summary_resend")
        )
        == 1
    )


def test_cli_shows_and_resends_the_summary(app_ctx, runner, smtp_server, people):
    """`flask batch summary N --json` prints the state, the reason and each reader's Message-ID; --resend sends again."""
    import json

    smtp_server.rules = {"giulia.bianchi@azienda.example": [550, "ok"]}
    batch_id = _done_batch(smtp_server, people, failures=1)
    run_jobs(app_ctx)
    result = runner.invoke(args=["batch", "summary", str(batch_id), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["status"] == "failed" and "550" in shown["error"]
    assert shown["readers"]["mario.rossi@azienda.example"]["status"] == "sent"
    assert (
        shown["readers"]["mario.rossi@azienda.example"]["message_id"]
        == _summaries(smtp_server)["mario.rossi@azienda.example"].message["Message-ID"]
    )
    result = runner.invoke(args=["batch", "summary", str(batch_id), "--resend"])
    assert result.exit_code == 0, result.output
    run_jobs(app_ctx)
    assert set(_summaries(smtp_server)) == {"mario.rossi@azienda.example", "giulia.bianchi@azienda.example"}
    result = runner.invoke(args=["batch", "summary", str(batch_id)])
    assert "inviata" in result.output and "Giulia Bianchi" in result.output
