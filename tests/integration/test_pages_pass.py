"""Issue 17, the pass over every page: what the screenshots at 1400 and 900 px showed and was fixed."""

from __future__ import annotations

from types import SimpleNamespace

from mailer.extensions import db
from mailer.models import Delivery, Document, utcnow
from tests.support.batches import make_account, make_sending_batch

NOWHERE = SimpleNamespace(host="127.0.0.1", port=1)


def _done_batch(app, documents_in_first: int = 1) -> int:
    """A concluded batch: two deliveries sent, nothing came back; the first carries `documents_in_first` DDTs."""
    with app.app_context():
        batch = make_sending_batch(
            make_account(NOWHERE), ["a@cliente.example", "b@cliente.example"], status="done"
        )
        first, second = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id)
        ).all()
        for delivery in (first, second):
            delivery.status, delivery.sent_at = "sent", utcnow()
        extra = [
            Document(
                type_code="DDT",
                number=f"DDT{i}",
                year=2026,
                date=first.documents[0].date,
                party_id=first.party_id,
            )
            for i in range(documents_in_first)
        ]
        first.documents = extra or first.documents
        db.session.commit()
        return batch.id


def test_results_show_no_empty_tracking_columns(app, client, auth):
    """Nothing came back (no PEC receipt, no bounce): the four tracking columns are left out; they squeezed
    recipient, party and documents into a few characters at 1400 px."""
    batch_id = _done_batch(app)
    auth.login("manager")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Invia" in page and "a@cliente.example" in page
    for heading in ("Accettata", "Consegnata", "Mancata consegna", "Rimbalzata"):
        assert f">{heading}</th>" not in page


def test_grouped_documents_name_their_type_once(app, client, auth):
    """Three DDTs in one e-mail: «Documento di trasporto n. DDT0, DDT1, DDT2», not the type three times."""
    batch_id = _done_batch(app, documents_in_first=3)
    auth.login("manager")
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert '<span title="DDT">Documento di trasporto</span> n.&nbsp;DDT0, DDT1, DDT2' in page
    assert page.count(">Documento di trasporto</span>") == 1


def test_users_list_names_the_few_types_left_out(client, auth, make_user):
    """An operator who may send 9 types of 12: «tutti tranne» the 3 left out, not 9 chips that pushed the
    actions out of the table at 900 px; fewer than half are listed as they are."""
    from tests.conftest import ALL_TYPES

    make_user(
        "ufficio",
        send_types=[t for t in ALL_TYPES if t not in ("OFFERTA", "INSOLUTO", "DICHIARAZIONE_INTENTO")],
    )
    make_user("vendite", roles=["sales"], send_types=["OFFERTA", "GENERICO"])
    auth.login("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    row = page[page.index("<strong>ufficio</strong>") :].split("</tr>")[0]
    assert "tutti tranne" in row
    assert [
        name
        for name in ("Offerta cliente", "Sollecito di pagamento (insoluto)", "Dichiarazione d&#39;intento")
        if name in row
    ] == [
        "Offerta cliente",
        "Sollecito di pagamento (insoluto)",
        "Dichiarazione d&#39;intento",
    ]
    assert "Documento di trasporto" not in row
    sales = page[page.index("<strong>vendite</strong>") :].split("</tr>")[0]
    assert "tutti tranne" not in sales and "Offerta cliente" in sales and "Documento generico" in sales


def test_captured_mail_shows_the_sender_name_then_its_address(app, client, auth):
    """«Brambilla Forniture» over a small address, not the raw header with its quotes in five lines at 900 px."""
    from mailer.transport.capture import store_message

    header = b'From: "Brambilla Forniture S.p.A." <documenti@brambilla.example>\r\nSubject: Fattura\r\n\r\nx'
    store_message(app.config["CAPTURE_DIR"], "documenti@brambilla.example", ["b@cliente.example"], header)
    store_message(
        app.config["CAPTURE_DIR"],
        "bounce@brambilla.example",
        ["c@cliente.example"],
        b"Subject: senza\r\n\r\nx",
    )
    auth.login("admin")
    page = client.get("/admin/captured").get_data(as_text=True)
    assert (
        'Brambilla Forniture S.p.A.<br><span class="muted small-text">documenti@brambilla.example</span>'
        in page
    )
    assert "&#34;Brambilla" not in page and "&quot;Brambilla" not in page
    assert '<td class="addr">bounce@brambilla.example</td>' in page


def test_dashboard_chart_has_room_for_the_last_days_label(app, client, auth):
    """The 30-day chart's last label («01/12») ran past the drawing's right edge and was cut."""
    import re

    _done_batch(app)
    auth.login("manager")
    page = client.get("/").get_data(as_text=True)
    width = int(re.search(r'<svg class="chart"[^>]*viewBox="0 0 (\d+) ', page).group(1))
    last_label_x = max(int(x) for x in re.findall(r'<text x="(\d+)" y="14\d">\d\d/\d\d</text>', page))
    assert width >= last_label_x + 32  # five characters of the chart's font


def test_sdi_box_only_on_documents_that_go_through_the_sdi(app, client, auth):
    """A DDT's page had a «Sistema di Interscambio» box saying it did not arrive as a FatturaPA file; an
    invoice's page keeps it (with or without notifications)."""
    from tests.support.batches import make_document, make_party_with_contacts

    with app.app_context():
        party = make_party_with_contacts("SDI", [])
        ddt, invoice = make_document(party, "DDT", "D1"), make_document(party, "FATTURA", "F1")
        db.session.commit()
        ids = ddt.id, invoice.id
    auth.login("operator")
    ddt_page, invoice_page = (client.get(f"/documenti/{i}").get_data(as_text=True) for i in ids)
    assert 'id="sdi-history"' not in ddt_page and "Interscambio" not in ddt_page
    assert 'id="sdi-history"' in invoice_page and "Documento non arrivato come file FatturaPA" in invoice_page
