"""Issue 17 points 2 and 3 on the pages: the document page says the outcome in words (the server's reply
only under «Risposta del server»), a refusal is explained with a fix link that returns to the batch, and
the return address is only ever a path on this site."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Contact, Delivery
from tests.support.batches import make_account, make_sending_batch


@pytest.fixture
def done_batch(app):
    """A done batch: one delivery sent (250 2.0.0), one refused (550 5.1.1)."""
    with app.app_context():
        account = make_account(SimpleNamespace(host="127.0.0.1", port=1))
        batch = make_sending_batch(account, ["ok@cliente.example", "rossi@cliente.example"], status="done")
        rows = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id)
        )
        sent, failed = list(rows)
        sent.status, sent.smtp_code, sent.smtp_reason = "sent", 250, "2.0.0 Ok: queued as 4F1"
        sent.sent_at = datetime(2026, 12, 1, 9, 3, tzinfo=UTC)
        failed.status, failed.smtp_code, failed.smtp_reason = "failed", 550, "5.1.1 User unknown"
        db.session.commit()
        return SimpleNamespace(
            batch=batch.id,
            sent_doc=sent.documents[0].id,
            failed_doc=failed.documents[0].id,
            contact=failed.contact_id,
        )


def test_document_page_says_the_outcome_in_words(client, auth, done_batch):
    auth.login("operator")
    page = client.get(f"/documenti/{done_batch.sent_doc}").get_data(as_text=True)
    assert (
        "Inviato il 01/12/2026 alle 10:03 a Ufficio 1 &lt;ok@cliente.example&gt;, accettato dal server"
        in page
    )
    assert "<summary>Risposta del server</summary><code>250 2.0.0 Ok: queued as 4F1</code>" in page
    assert ">sent<" not in page and "sent 2.0.0" not in page


def test_refusal_explained_with_a_fix_link_back_to_the_batch(client, auth, done_batch):
    auth.login("operator")
    page = client.get(f"/invii/{done_batch.batch}?vista=failed").get_data(as_text=True)
    assert "L&#39;indirizzo non esiste sul server del destinatario" in page
    assert f"/anagrafiche/contacts/{done_batch.contact}/edit?next=/invii/{done_batch.batch}" in page
    assert "Fattura (copia di cortesia)</span> n.&nbsp;" in page  # the type's name, not FATTURA
    doc_page = client.get(f"/documenti/{done_batch.failed_doc}").get_data(as_text=True)
    assert "Controlla l&#39;indirizzo del contatto" in doc_page


@pytest.mark.parametrize(
    "nxt", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_only_local_return_addresses(client, auth, done_batch, nxt):
    auth.login("operator")
    form = client.get(f"/anagrafiche/contacts/{done_batch.contact}/edit", query_string={"next": nxt})
    assert 'name="next"' not in form.get_data(as_text=True)
    response = client.post(
        f"/anagrafiche/contacts/{done_batch.contact}",
        data={
            "name": "Ufficio 2",
            "email": "nuovo@cliente.example",
            "pec": "auto",
            "privacy_level": "0",
            "next": nxt,
        },
    )
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"] and response.headers["Location"].startswith(
        "/anagrafiche/"
    )


def test_saving_from_the_batch_returns_there(client, auth, done_batch):
    auth.login("operator")
    back = f"/invii/{done_batch.batch}?vista=failed"
    form = client.get(f"/anagrafiche/contacts/{done_batch.contact}/edit", query_string={"next": back})
    assert f'name="next" value="{back.replace("&", "&amp;")}"' in form.get_data(as_text=True)
    response = client.post(
        f"/anagrafiche/contacts/{done_batch.contact}",
        data={
            "name": "Ufficio 2",
            "email": "nuovo@cliente.example",
            "pec": "auto",
            "privacy_level": "0",
            "next": back,
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == back
    with client.application.app_context():
        assert db.session.get(Contact, done_batch.contact).email == "nuovo@cliente.example"
