"""PEC receipts change a delivery only when genuine: S/MIME signature chained to the administrator's
trust store (a test CA made here) at the receipt's time, and sender on the account's provider domains.
Everything else is kept as «sospetta» with its reason and applied only when a person confirms it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Delivery, MailAccount, Receipt
from mailer.services.tracking import record_message
from tests.support.batches import make_account, make_sending_batch
from tests.support.pec_ca import make_ca, make_signer, replace_signature, signed_receipt
from tests.support.receipts import adapt_receipt

LOOPBACK = SimpleNamespace(host="127.0.0.1", port=1)  # nothing is sent: deliveries are written as sent
PROVIDER = "posta-certificata@pec.gestore.example"


@pytest.fixture
def pec_world(app_ctx):
    """A PEC account on the provider «pec.gestore.example», two deliveries written as sent, a test CA."""
    account = make_account(LOOPBACK, name="PEC", kind="pec", from_address="azienda@pec.example")
    if hasattr(MailAccount, "pec_system_domains"):
        account.pec_system_domains = "pec.gestore.example"
    batch = make_sending_batch(
        account, ["ok@pec.cliente.example", "altro@pec.cliente.example"], status="done"
    )
    mids = {}
    for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch.id)):
        d.status, d.message_id = "sent", f"<{d.recipient_email.split('@')[0]}.{d.id}@azienda.example>"
        mids[d.recipient_email] = (d.id, d.message_id)
    db.session.commit()
    ca = make_ca()
    return SimpleNamespace(account_id=account.id, batch_id=batch.id, mids=mids, ca=ca, signer=make_signer(ca))


def trust(pem: bytes) -> None:
    """Put a certificate in the trust store as the administrator does."""
    from mailer.services.pec_trust import add_certificates

    add_certificates(pem)
    db.session.commit()


def delivery(world, address: str) -> Delivery:
    """Fresh delivery row."""
    db.session.expire_all()
    return db.session.get(Delivery, world.mids[address][0])


def test_forged_signature_is_kept_as_suspect_and_not_applied(pec_world):
    """A receipt whose signature does not match its content (taken from another receipt) changes nothing."""
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    _, other = pec_world.mids["altro@pec.cliente.example"]
    genuine_for_other = signed_receipt(other, pec_world.signer, consegna="altro@pec.cliente.example")
    forged = replace_signature(signed_receipt(mid, pec_world.signer), genuine_for_other)
    receipt = record_message(forged).receipt
    assert receipt.signature_status == "failed"
    assert receipt.outcome == "suspect" and "firma non valida" in receipt.notes
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None


def test_provider_mailbox_on_any_domain_is_not_a_pec_system(pec_world):
    """posta-certificata@ on a domain that is not the account provider's: suspect, even with a valid signature."""
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    raw = signed_receipt(mid, pec_world.signer, sender="posta-certificata@truffa.example")
    receipt = record_message(raw).receipt
    assert receipt.signature_status == "verified"
    assert receipt.outcome == "suspect" and "mittente non del gestore" in receipt.notes
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None


def test_tampered_receipt_is_suspect(pec_world):
    """Daticert rewritten after signing to name another message: the signature no longer holds."""
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    _, other = pec_world.mids["altro@pec.cliente.example"]
    tampered = adapt_receipt(signed_receipt(other, pec_world.signer, consegna="ok@pec.cliente.example"), mid)
    receipt = record_message(tampered).receipt
    assert receipt.outcome == "suspect" and "firma non valida" in receipt.notes
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None


def test_genuine_receipt_is_applied(pec_world):
    """Signed by the provider's certificate issued by a CA in the store, from the provider's system: applied."""
    trust(pec_world.ca.pem)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    receipt = record_message(signed_receipt(mid, pec_world.signer)).receipt
    assert (receipt.outcome, receipt.trust_status, receipt.notes) == ("applied", "trusted", "")
    assert "posta-certificata@pec.gestore.example" in receipt.signer
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at == datetime(2026, 11, 30, 9, 0, 0)


def test_signing_certificate_alone_may_be_the_trust_anchor(pec_world):
    """A provider gives its signing certificate (DER), not its CA: that is enough."""
    trust(pec_world.signer.der)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    receipt = record_message(signed_receipt(mid, pec_world.signer, x_ricevuta="accettazione")).receipt
    assert (receipt.outcome, receipt.trust_status) == ("applied", "trusted")


def test_wrong_signer_is_suspect(pec_world):
    """A valid signature by a certificate from a CA that is not in the store (the store holds another)."""
    trust(pec_world.ca.pem)
    intruder_ca = make_ca("Altra CA", "Altro S.p.A.")
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    receipt = record_message(signed_receipt(mid, make_signer(intruder_ca))).receipt
    assert receipt.signature_status == "verified" and receipt.trust_status == "untrusted"
    assert receipt.outcome == "suspect" and "firmatario non attendibile" in receipt.notes
    assert receipt.delivery_id is None
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None


def test_empty_store_trusts_nobody(pec_world):
    """Shipped empty: even a well-formed provider receipt is «sospetta» until the administrator adds certificates."""
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    receipt = record_message(signed_receipt(mid, pec_world.signer)).receipt
    assert (receipt.outcome, receipt.trust_status) == ("suspect", "untrusted")


def test_expired_certificate_is_suspect(pec_world):
    """The signing certificate expired before the time the receipt certifies."""
    trust(pec_world.ca.pem)
    old = make_signer(pec_world.ca, not_before=datetime.now(UTC) - timedelta(days=200), days=100)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    when = datetime.now().replace(microsecond=0) - timedelta(days=1)
    receipt = record_message(signed_receipt(mid, old, when=when)).receipt
    assert receipt.trust_status == "expired"
    assert receipt.outcome == "suspect" and "certificato scaduto" in receipt.notes
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None


def test_validity_is_taken_at_the_receipt_time(pec_world):
    """A certificate expired today still vouches for a receipt it signed while valid (old receipts stay proof)."""
    trust(pec_world.ca.pem)
    old = make_signer(pec_world.ca, not_before=datetime.now(UTC) - timedelta(days=200), days=100)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    when = (datetime.now() - timedelta(days=150)).replace(microsecond=0)
    receipt = record_message(signed_receipt(mid, old, when=when)).receipt
    assert (receipt.outcome, receipt.trust_status) == ("applied", "trusted")


def test_wrong_sender_domain_for_a_sender_side_receipt(pec_world):
    """An accettazione comes from the account's own provider: another accredited provider's domain is suspect."""
    trust(pec_world.ca.pem)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    raw = signed_receipt(
        mid, pec_world.signer, x_ricevuta="accettazione", sender="posta-certificata@legalmail.it"
    )
    receipt = record_message(raw).receipt
    assert receipt.outcome == "suspect" and "mittente non del gestore" in receipt.notes
    # A consegna comes from the recipient's provider: a known provider's system is accepted.
    raw = signed_receipt(mid, pec_world.signer, sender="posta-certificata@legalmail.it")
    assert record_message(raw).receipt.outcome == "applied"


def test_account_domain_list_is_prefilled_from_the_provider():
    """The known providers' system domains (cited in mailer.reference) for a mailbox on their domains."""
    from mailer.services.pec_trust import parse_domains, suggested_system_domains

    assert suggested_system_domains("azienda@pec.it") == ["pec.aruba.it"]
    assert suggested_system_domains("azienda@legalmail.it") == ["legalmail.it"]
    assert suggested_system_domains("azienda@postecert.it") == ["postecert.it"]
    assert suggested_system_domains("azienda@pec.example") == []
    assert parse_domains("posta-certificata@pec.aruba.it, Legalmail.it\nlegalmail.it") == (
        ["pec.aruba.it", "legalmail.it"],
        "",
    )
    assert parse_domains("non un dominio")[1].startswith("«non» non è un dominio")


OCA_MSGID = (
    "<1542123565.921546936035156.464602125997431-openerp-8-fatturapa.attachment.out@elbati-Vostro-3550>"
)


def agid_ca_of(raw: bytes) -> bytes:
    """The certificates a real receipt carries (Aruba's signing certificate and «AgID CA1», its issuer)."""
    import subprocess

    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    p7 = subprocess.run(["openssl", "smime", "-pk7out"], input=raw, capture_output=True, check=True).stdout
    certs = pkcs7.load_pem_pkcs7_certificates(p7)
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs if "AgID CA1" in c.subject.rfc4514_string())


@pytest.fixture
def aruba_delivery(app_ctx):
    """A delivery of an Aruba PEC account (azienda@pec.it: no domain list, the provider's is used) whose
    Message-ID is the one the real Aruba receipts in the samples refer to."""
    account = make_account(LOOPBACK, name="Aruba", kind="pec", from_address="azienda@pec.it")
    batch = make_sending_batch(account, ["cliente@pec.it"], status="done")
    d = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
    d.status, d.message_id = "sent", OCA_MSGID
    db.session.commit()
    return d.id


def test_real_aruba_receipts_are_suspect_with_an_empty_store(aruba_delivery, samples_dir):
    """The real Aruba accettazione parses, its signature holds, but nobody is trusted yet."""
    from tests.support.receipts import OCA_ACCETTAZIONE, sample

    receipt = record_message(sample(samples_dir, OCA_ACCETTAZIONE)).receipt
    assert receipt.signature_status == "verified" and receipt.trust_status == "untrusted"
    assert receipt.outcome == "suspect" and "Posta Certificata ARUBA PEC" in receipt.signer
    assert db.session.get(Delivery, aruba_delivery).pec_accepted_at is None


def test_real_aruba_receipts_are_genuine_once_agid_ca_is_trusted(aruba_delivery, samples_dir):
    """Trusting «AgID CA1» (the issuer the receipt itself carries) makes the 2018 receipts genuine: their
    certificate was valid then (it expired in 2020), the sender is Aruba's system (pec.aruba.it)."""
    from tests.support.receipts import OCA_ACCETTAZIONE, OCA_CONSEGNA, sample

    raw = sample(samples_dir, OCA_ACCETTAZIONE)
    ca = agid_ca_of(raw)
    assert ca, "the sample should carry AgID CA1"
    trust(ca)
    for name in (OCA_ACCETTAZIONE, OCA_CONSEGNA):
        receipt = record_message(sample(samples_dir, name)).receipt
        assert (receipt.outcome, receipt.trust_status, receipt.delivery_id) == (
            "applied",
            "trusted",
            aruba_delivery,
        )
    d = db.session.get(Delivery, aruba_delivery)
    assert d.pec_accepted_at == datetime(2018, 11, 13, 15, 39, 26)
    assert d.pec_delivered_at == datetime(2018, 11, 13, 15, 39, 27)


def test_dummy_signatures_of_the_synthetic_samples_are_invalid(samples_dir):
    """go-pec's synthetic receipts carry a signature that does not parse: «firma non valida»."""
    from mailer.transport.pec_signature import check_pec_signature
    from tests.support.receipts import GOPEC_ACCETTAZIONE, sample

    assert check_pec_signature(sample(samples_dir, GOPEC_ACCETTAZIONE), "", None).status == "invalid"


# ---------------------------------------------------------------- pages


def _suspect(world):
    """A receipt for ok@ signed by a provider not in the store: «sospetta», not applied."""
    _, mid = world.mids["ok@pec.cliente.example"]
    return record_message(signed_receipt(mid, make_signer(make_ca("Altra CA", "Altro S.p.A.")))).receipt


def test_delivery_page_shows_certified_data_and_the_signed_original(pec_world, client, auth):
    """The delivery page lists its receipts with daticert's data, the reason of a suspect one, and the
    original as received; a user below the delivery's privacy level gets 404 for both."""
    trust(pec_world.ca.pem)
    did, mid = pec_world.mids["ok@pec.cliente.example"]
    genuine = record_message(signed_receipt(mid, pec_world.signer, x_ricevuta="accettazione")).receipt
    suspect = _suspect(pec_world)
    auth.login("operator")
    url = f"/invii/{pec_world.batch_id}/recapiti/{did}"
    html = client.get(url).get_data(as_text=True)
    for text in (
        "Ricevute e rimbalzi",
        "Accettazione",
        "Avvenuta consegna",
        "30/11/2026 10:00",
        "opec210.20261130100000.12345.01.1.1@pec.gestore.example",
        "Gestore di prova S.p.A.",
        mid.strip("<>"),
        "azienda@pec.example",
        "Sospetta: non applicata",
        "firmatario non attendibile",
        "Firmatario attendibile",
    ):
        assert text in html, text
    assert "Conferma e applica" not in html  # operators see, managers confirm
    for receipt in (genuine, suspect):
        download = f"{url}/ricevute/{receipt.id}.eml"
        assert download in html
        response = client.get(download)
        assert response.status_code == 200 and response.data.startswith(b"Return-Path:")
    d = db.session.get(Delivery, did)
    d.privacy_level = 3
    db.session.commit()
    auth.logout()
    auth.login("basso", roles=["operator"], clearance=1)
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/ricevute/{suspect.id}.eml").status_code == 404


def test_a_manager_confirms_a_suspect_receipt(pec_world, client, auth):
    """«Conferma e applica»: managers only, CSRF, audited with the reasons; applied once."""
    from mailer.models import AuditEvent

    suspect = _suspect(pec_world)
    did, _ = pec_world.mids["ok@pec.cliente.example"]
    confirm = f"/ricevute/{suspect.id}/conferma"
    auth.login("operator")
    assert client.post(confirm).status_code == 403
    auth.logout()
    auth.login("manager")
    page = client.get(f"/invii/{pec_world.batch_id}/recapiti/{did}").get_data(as_text=True)
    assert confirm in page and "Conferma e applica" in page
    assert client.post(confirm, csrf=False).status_code == 400
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at is None
    response = client.post(confirm, data={"back": "delivery"})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/invii/{pec_world.batch_id}/recapiti/{did}"
    )
    assert delivery(pec_world, "ok@pec.cliente.example").pec_delivered_at == datetime(2026, 11, 30, 9, 0, 0)
    receipt = db.session.get(Receipt, suspect.id)
    assert (receipt.outcome, receipt.delivery_id) == ("applied", did)
    assert receipt.confirmed_at is not None and "confermata da manager" in receipt.notes
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "receipt.confirm"))
    assert event.username == "manager" and "firmatario non attendibile" in event.details["suspect_reasons"]
    # Twice: refused, nothing changes.
    client.post(confirm)
    assert (
        db.session.scalar(
            db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "receipt.confirm")
        )
        == 1
    )
    html = client.get("/ricevute/").get_data(as_text=True)
    assert "confermata il" in html


def test_receipts_page_says_why_and_offers_confirmation(pec_world, client, auth):
    """/ricevute: the «sospetta» row gives the reason, the signer's trust, and the button for managers."""
    suspect = _suspect(pec_world)
    auth.login("manager")
    html = client.get("/ricevute/?outcome=suspect").get_data(as_text=True)
    assert f'id="ricevuta-{suspect.id}"' in html
    assert (
        "Sospetta:" in html and "firmatario non attendibile" in html and "Firmatario non attendibile" in html
    )
    assert f"/ricevute/{suspect.id}/conferma" in html


def test_trust_store_page_upload_list_remove(pec_world, client, auth):
    """Administrators upload PEM (several at once) or DER, see subject/issuer/validity/fingerprint, remove; audited."""
    from io import BytesIO

    from mailer.models import AuditEvent, PecTrustedCertificate

    auth.login("admin")
    page = client.get("/admin/certificati-pec/").get_data(as_text=True)
    assert "Nessun certificato" in page and "AgID" in page
    bundle = pec_world.ca.pem + make_ca("Seconda CA", "Altro gestore S.p.A.").pem
    response = client.post(
        "/admin/certificati-pec/",
        data={"certificate": (BytesIO(bundle), "gestori.pem")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    response = client.post(
        "/admin/certificati-pec/",
        data={"certificate": (BytesIO(pec_world.signer.der), "firma.cer")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = client.get("/admin/certificati-pec/").get_data(as_text=True)
    rows = db.session.scalars(db.select(PecTrustedCertificate)).all()
    assert len(rows) == 3
    for row in rows:
        assert row.sha256 in page and row.subject in page
    assert "CN=Gestore di prova Root CA" in page and "posta-certificata@pec.gestore.example" in page
    # The same file again: nothing doubled. Garbage: the error next to the field, nothing written.
    client.post(
        "/admin/certificati-pec/",
        data={"certificate": (BytesIO(bundle), "gestori.pem")},
        content_type="multipart/form-data",
    )
    bad = client.post(
        "/admin/certificati-pec/",
        data={"certificate": (BytesIO(b"non un certificato"), "x.pem")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and "«x.pem»: Il file non contiene un certificato" in bad.get_data(
        as_text=True
    )
    assert db.session.scalar(db.select(db.func.count(PecTrustedCertificate.id))) == 3
    signer_row = next(r for r in rows if not r.is_ca)
    assert client.post(f"/admin/certificati-pec/{signer_row.id}/rimuovi").status_code == 302
    assert db.session.scalar(db.select(db.func.count(PecTrustedCertificate.id))) == 2
    actions = [
        e.action
        for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))
        if e.action.startswith("pec_trust.")
    ]
    assert actions == ["pec_trust.add"] * 3 + ["pec_trust.remove"]
    log = client.get("/admin/registro/").get_data(as_text=True)
    assert (
        "Certificato PEC aggiunto" in log and "Certificato PEC rimosso" in log and "impronta SHA-256" in log
    )
    auth.logout()
    auth.login("manager")
    assert client.get("/admin/certificati-pec/").status_code == 403


def test_account_form_prefills_and_checks_the_provider_domains(app_ctx, client, auth):
    """A PEC account on Aruba gets pec.aruba.it when left empty; a wrong domain is refused by the field."""
    auth.login("admin")
    form = {
        "name": "PEC Aruba",
        "kind": "pec",
        "host": "smtps.pec.aruba.it",
        "port": "465",
        "tls_mode": "ssl",
        "username": "azienda@pec.it",
        "from_address": "azienda@pec.it",
        "max_connections": "1",
        "rate_per_minute": "10",
        "rate_per_day": "500",
        "max_message_mb": "30",
        "max_recipients": "50",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
        "pec_system_domains": "",
    }
    assert client.post("/admin/accounts/new", data=form).status_code == 302
    account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "PEC Aruba"))
    assert account.pec_system_domains == "pec.aruba.it"
    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert "pec.aruba.it</textarea>" in page
    bad = client.post(f"/admin/accounts/{account.id}", data={**form, "pec_system_domains": "pec aruba"})
    assert bad.status_code == 422 and "«pec» non è un dominio" in bad.get_data(as_text=True)


def test_cli_import_json_shows_the_trust_outcome(pec_world, runner, tmp_path):
    """`receipts import --json`: trust, genuine, signer and the reasons of a «sospetta» one (other keys kept)."""
    import json

    trust(pec_world.ca.pem)
    _, mid = pec_world.mids["ok@pec.cliente.example"]
    genuine = tmp_path / "accettazione.eml"
    genuine.write_bytes(signed_receipt(mid, pec_world.signer, x_ricevuta="accettazione"))
    wrong = tmp_path / "consegna-altro-firmatario.eml"
    wrong.write_bytes(signed_receipt(mid, make_signer(make_ca("Altra CA", "Altro S.p.A."))))
    result = runner.invoke(args=["receipts", "import", str(genuine), str(wrong), "--json"])
    assert result.exit_code == 0, result.output
    first, second = [json.loads(line) for line in result.output.splitlines()]
    assert {
        "file",
        "kind",
        "receipt_type",
        "message_id",
        "delivery",
        "signature_verified",
        "outcome",
        "duplicate",
    } <= set(first)
    assert (first["trust"], first["genuine"], first["outcome"], first["suspect_reasons"]) == (
        "trusted",
        True,
        "applied",
        [],
    )
    assert "posta-certificata@pec.gestore.example" in first["signer"]
    assert (second["trust"], second["genuine"], second["outcome"], second["signature_verified"]) == (
        "untrusted",
        False,
        "suspect",
        True,
    )
    assert any("firmatario non attendibile" in reason for reason in second["suspect_reasons"])
    text = runner.invoke(args=["receipts", "import", str(wrong)]).output
    assert "già importato" in text and "Firmatario non attendibile" in text


def test_batch_results_mark_a_suspect_receipt(pec_world, client, auth):
    """The batch results show a «sospetta» receipt next to its delivery, linked to the delivery page; the state
    column stays empty (nothing applied)."""
    suspect = _suspect(pec_world)
    did, _ = pec_world.mids["ok@pec.cliente.example"]
    auth.login("operator")
    html = client.get(f"/invii/{pec_world.batch_id}").get_data(as_text=True)
    assert (
        f"/invii/{pec_world.batch_id}/recapiti/{did}#ricevuta-{suspect.id}" in html
        and ">sospetta</a>" in html
    )
    assert f"/invii/{pec_world.batch_id}/recapiti/{did}/ricevute/{suspect.id}.eml" in html
