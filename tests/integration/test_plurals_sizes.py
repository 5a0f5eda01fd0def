"""Issue 17 point 7 on the pages: every count is written with the `plural` filter («1 messaggio escluso»,
«2 messaggi esclusi») and every size with `it_size` (decimal comma, «12,3 kB»), each place seen with 1 and 2+."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from flask import render_template

from mailer.extensions import db
from mailer.models import Batch, Delivery
from mailer.services import sdi
from mailer.services.audit import audit
from mailer.transport.capture import store_message
from tests.support.batches import make_account, make_sending_batch

NOWHERE = SimpleNamespace(host="127.0.0.1", port=1)


def _ready_batch(app, **counts: int) -> int:
    """A batch awaiting approval whose rows are: `resends` pending re-sends, `norecipient`, `excluded`,
    `waiting` (held for the SdI outcome), `discarded` (rejected by the SdI)."""
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    with app.app_context():
        account = make_account(NOWHERE)
        batch = make_sending_batch(
            account, [f"r{i}@cliente.example" for i in range(len(kinds))], status="ready"
        )
        rows = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id)
        )
        for kind, row in zip(kinds, rows, strict=True):
            if kind == "resends":
                row.already_sent_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
            elif kind == "norecipient":
                row.status = "norecipient"
            else:
                row.status = "excluded"
                row.exclusion_reason = {"waiting": sdi.SDI_WAITING, "discarded": sdi.SDI_DISCARDED}.get(
                    kind, ""
                )
        db.session.commit()
        return batch.id


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (
            1,
            [
                "<strong>1</strong> messaggio con documenti già inviati",
                "<strong>1</strong> documento senza destinatario",
                "<strong>1</strong> messaggio escluso",
                "Confermo il reinvio: 1 messaggio porta documenti già inviati",
            ],
        ),
        (
            2,
            [
                "<strong>2</strong> messaggi con documenti già inviati",
                "<strong>2</strong> documenti senza destinatario",
                "<strong>2</strong> messaggi esclusi",
                "Confermo il reinvio: 2 messaggi portano documenti già inviati",
            ],
        ),
    ],
)
def test_review_counts(app, client, auth, n, words):
    batch_id = _ready_batch(app, resends=n, norecipient=n, excluded=n)
    auth.login("manager")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    for expected in words:
        assert expected in page


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, ["documento in attesa dell'esito SdI: partirà", "documento scartato dallo SdI: non parte"]),
        (2, ["documenti in attesa dell'esito SdI: partiranno", "documenti scartati dallo SdI: non partono"]),
    ],
)
def test_review_sdi_counts(app, client, auth, n, words):
    batch_id = _ready_batch(app, resends=1, waiting=n, discarded=n)
    auth.login("manager")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True).replace("&#39;", "'")
    for expected in words:
        assert f"<strong>{n}</strong> {expected}" in page


@pytest.mark.parametrize(("size", "shown"), [(850, "850 byte"), (12_595, "12,3 kB"), (1_468_006, "1,4 MB")])
def test_preview_size_with_a_decimal_comma(app, client, auth, size, shown):
    with app.app_context():
        batch = make_sending_batch(make_account(NOWHERE), ["a@cliente.example"], status="ready")
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
        delivery.size_bytes = size
        db.session.commit()
        url = f"/invii/{batch.id}/recapiti/{delivery.id}"
    auth.login("manager")
    page = client.get(url).get_data(as_text=True)
    assert f"Dimensione stimata: {shown}" in page and " KB" not in page


def test_account_size_limit_with_a_decimal_comma(app, client, auth):
    with app.app_context():
        make_account(NOWHERE, max_message_bytes=int(7.5 * 1048576))
        db.session.commit()
    auth.login("admin")
    assert "7,5 MB" in client.get("/admin/accounts").get_data(as_text=True)


@pytest.mark.parametrize(("n", "words"), [(1, "1 messaggio"), (2, "2 messaggi")])
def test_captured_mail_count(app, client, auth, n, words):
    for i in range(n):
        store_message(
            app.config["CAPTURE_DIR"], "a@azienda.example", ["b@cliente.example"], b"Subject: %d\r\n\r\nx" % i
        )
    auth.login("admin")
    page = client.get("/admin/captured").get_data(as_text=True)
    assert f'<p class="muted small-text">{words}</p>' in page


@pytest.mark.parametrize(("n", "words"), [(1, "1 evento"), (2, "2 eventi")])
def test_audit_log_count(app, client, auth, n, words):
    with app.app_context():
        for i in range(n):
            audit("batch.discard", None, user=None, note=str(i))
        db.session.commit()
    auth.login("admin")
    page = client.get("/admin/registro/?action=batch.discard").get_data(as_text=True)
    assert f'<p class="muted small-text">{words}' in page


@pytest.mark.parametrize(
    ("ids", "words"), [(["1"], "1 documento scelto"), (["1", "2"], "2 documenti scelti")]
)
def test_new_batch_from_picked_documents(client, auth, ids, words):
    auth.login("admin")
    page = client.get("/invii/nuovo", query_string={"document_id": ids}).get_data(as_text=True)
    assert f"<strong>{words} dalla pagina Documenti.</strong>" in page


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "1 destinatario senza consenso esplicito ammesso come clienti"),
        (2, "2 destinatari senza consenso esplicito ammessi come clienti"),
    ],
)
def test_campaign_review_soft_spam_count(app_ctx, n, words):
    campaign = SimpleNamespace(name="Autunno", commercial=True, saved_filter=None, versions=[])
    batch = SimpleNamespace(id=1, params={"soft_spam": n, "unsubscribe_base": "https://recapito.example"})
    with app_ctx.test_request_context():
        html = render_template(
            "campaigns/_batch_review.html",
            batch=batch,
            campaign_of_batch=lambda _id: campaign,
            campaign_exclusions=lambda *_a: [],
            current_user=None,
        )
    assert words in html


@pytest.mark.parametrize(("total", "words"), [(2, "0 di 1 documento (PDF)"), (4, "0 di 2 documenti (PDF)")])
def test_preparation_progress_count(app_ctx, total, words):
    """The preparation counts two steps per document (PDF, then recipients and texts)."""
    progress = SimpleNamespace(phase="preparing", done=0, total=total, percent=0)
    with app_ctx.test_request_context():
        html = render_template("batches/_progress.html", batch=Batch(id=1, status="done"), progress=progress)
    assert words in html


@pytest.mark.parametrize(
    ("count", "words"), [(1, "Fattura (copia di cortesia) – 1 documento scelto"), (2, "– 2 documenti scelti")]
)
def test_name_of_a_batch_of_picked_documents(app_ctx, count, words):
    from mailer.services import preparation

    selection = preparation.Selection(type_codes=["FATTURA"], document_ids=list(range(1, count + 1)))
    assert words in preparation.selection._default_name(selection)
