"""SdI notifications (issue 20, points 1 and 4): reading, matching, duplicates, CLI, state, pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.extensions import db
from tests.support.documents import bearer

DATA = Path(__file__).resolve().parent.parent / "data" / "sdi"
RC = DATA / "IT01234567890_11111_RC_001.xml"
MC = DATA / "IT01234567890_11112_MC_001.xml"
NS = DATA / "IT01234567890_11113_NS_001.xml"
NE = DATA / "IT01234567890_11114_NE_001.xml"
DT = DATA / "IT01234567890_11115_DT_001.xml"
AT = DATA / "IT01234567890_11116_AT_001.xml"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<RicevutaConsegna><IdentificativoSdI>&lol2;</IdentificativoSdI></RicevutaConsegna>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<RicevutaConsegna><NomeFile>&xxe;</NomeFile></RicevutaConsegna>"""


def _sign(data: bytes) -> bytes:
    """A CAdES-like enveloping signature (.p7m, DER), as the SdI signs its notifications."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    from tests.support.pec_ca import make_ca, make_signer

    signer = make_signer(make_ca(), common_name="sdi.example")
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def _import_invoice(samples_dir, name):
    from mailer.services.fatturapa import import_fatturapa

    path = samples_dir / "fatturapa" / name
    summaries = import_fatturapa(path.read_bytes(), str(path))
    db.session.commit()
    return [s["_document_id"] for s in summaries]


@pytest.mark.parametrize(
    "path,kind,sdi_id,invoice_file",
    [
        (RC, "RC", "111", "IT01234567890_FPR02.xml"),
        (MC, "MC", "112", "IT01234567890_FPR02.xml"),
        (NS, "NS", "113", "IT01234567890_FPR06.xml"),
        (NE, "NE", "114", "IT01234567890_FPA01.xml"),
        (DT, "DT", "115", "IT01234567890_FPA03.xml"),
        (AT, "AT", "116", "IT99999999999_00001.xml"),
    ],
)
def test_every_kind_is_read(app_ctx, path, kind, sdi_id, invoice_file):
    from mailer.services.sdi import looks_like_notification, parse_notification

    parsed = parse_notification(path.read_bytes(), path.name)
    assert (parsed["kind"], parsed["sdi_id"], parsed["invoice_file"]) == (kind, sdi_id, invoice_file)
    assert looks_like_notification(path.name)
    assert looks_like_notification("notifica.xml", path.read_bytes())


def test_details_ns_ne_rc(app_ctx):
    from datetime import datetime

    from mailer.services.sdi import parse_notification

    ns = parse_notification(NS.read_bytes(), NS.name)
    assert [(e["code"], e["description"]) for e in ns["errors"]] == [
        ("00404", "Fattura duplicata"),
        ("00305", "IdFiscaleIVA del CessionarioCommittente non valido"),
    ]
    assert ns["errors"][1]["hint"] == "Verificare la partita IVA del cliente"
    ne = parse_notification(NE.read_bytes(), NE.name)
    assert ne["outcome"] == "EC02" and "ordine" in ne["description"]
    rc = parse_notification(RC.read_bytes(), RC.name)
    assert rc["notified_at"] == datetime(2026, 11, 30, 9, 5)  # DataOraConsegna, in UTC
    assert parse_notification(DT.read_bytes(), DT.name)["notified_at"] is None


def test_signed_p7m_and_base64(app_ctx):
    import base64

    from mailer.services.sdi import parse_notification

    signed = _sign(NS.read_bytes())
    assert parse_notification(signed, "IT01234567890_11113_NS_001.xml.p7m")["kind"] == "NS"
    assert parse_notification(base64.encodebytes(signed), "x.xml.p7m")["sdi_id"] == "113"


@pytest.mark.parametrize(
    "data,reason",
    [
        (BILLION_LAUGHS, "DTD o delle entità"),
        (XXE, "DTD o delle entità"),
        (b"not xml at all \x00\x01", "non è XML"),
        (b"\x30\x82\x01\x00garbage", "p7m"),
        (b"<" + b"a" * (9 * 1024 * 1024) + b"/>", "troppo grande"),
        (b"<ns:FatturaElettronica xmlns:ns='x'/>", "non è una notifica SdI"),
        (RC.read_bytes().replace(b"<NomeFile>IT01234567890_FPR02.xml</NomeFile>", b""), "senza NomeFile"),
        (NS.read_bytes().replace(b"ListaErrori", b"Altro"), "senza ListaErrori"),
        (NE.read_bytes().replace(b"EC02", b"EC99"), "esito sconosciuto"),
        (RC.read_bytes().replace(b"2026-11-30T10:05:00.000+01:00", b"ieri"), "data e ora non valida"),
        (RC.read_bytes().replace(b"IT01234567890_FPR02.xml", b"../../etc/passwd"), "NomeFile non valido"),
    ],
)
def test_forged_or_malformed_refused_nothing_written(app_ctx, tmp_path, data, reason):
    from mailer.models import Blob, SdiNotification
    from mailer.services.sdi import import_sdi_paths

    path = tmp_path / "IT01234567890_11111_RC_001.xml"
    path.write_bytes(data)
    blobs = db.session.scalar(select(func.count()).select_from(Blob))
    results, ok = import_sdi_paths([str(path)])
    assert not ok and reason in results[0]["error"], results
    assert db.session.scalar(select(func.count()).select_from(SdiNotification)) == 0
    assert db.session.scalar(select(func.count()).select_from(Blob)) == blobs


def test_cli_matches_by_invoice_file_and_keeps_unmatched(runner, app, samples_dir, tmp_path):
    with app.app_context():
        fpr02 = _import_invoice(samples_dir, "IT01234567890_FPR02.xml")
        fpr_ns = _import_invoice(samples_dir, "IT01234567890_FPR06.xml")
    signed = tmp_path / "IT01234567890_11113_NS_001.xml.p7m"
    signed.write_bytes(_sign(NS.read_bytes()))
    broken = tmp_path / "IT01234567890_11117_RC_001.xml"
    broken.write_bytes(b"<RicevutaConsegna>")
    result = runner.invoke(args=["import-sdi", str(RC), str(signed), str(AT), str(broken), "--json"])
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert rows[0] == {
        "file": str(RC),
        "kind": "RC",
        "sdi_id": "111",
        "invoice_file": "IT01234567890_FPR02.xml",
        "documents": fpr02,
        "duplicate": False,
    }
    assert rows[1]["kind"] == "NS" and rows[1]["documents"] == fpr_ns
    assert rows[1]["errors"][0] == {"code": "00404", "description": "Fattura duplicata"}
    assert rows[2]["documents"] == [] and rows[2]["kind"] == "AT"
    assert rows[3]["file"] == str(broken) and "XML non valido" in rows[3]["error"]
    # the same notification again: a duplicate, not a second row
    again = runner.invoke(args=["import-sdi", str(RC), "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["duplicate"] is True
    with app.app_context():
        from mailer.models import SdiNotification

        assert db.session.scalar(select(func.count()).select_from(SdiNotification)) == 3
        assert (
            db.session.scalar(select(SdiNotification.invoice_file).where(SdiNotification.kind == "AT"))
            == "IT99999999999_00001.xml"
        )


def test_sdi_state_is_the_latest_notification(app_ctx, samples_dir):
    from mailer.models import Document
    from mailer.services.sdi import import_notification, sdi_state, state_condition

    fpr02 = _import_invoice(samples_dir, "IT01234567890_FPR02.xml")
    fpr_ns = _import_invoice(samples_dir, "IT01234567890_FPR06.xml")
    fpa01 = _import_invoice(samples_dir, "IT01234567890_FPA01.xml")
    assert db.session.get(Document, fpr02[0]).sdi_file_name == "IT01234567890_FPR02.xml"
    assert sdi_state(fpr02 + fpr_ns + fpa01) == {}
    import_notification(MC.read_bytes(), MC.name)
    import_notification(NS.read_bytes(), NS.name)
    db.session.commit()
    assert sdi_state(fpr02 + fpr_ns + fpa01) == {**dict.fromkeys(fpr02, "MC"), **dict.fromkeys(fpr_ns, "NS")}
    # An RC the SdI issued after the MC (a later DataOraConsegna) is the state.
    import_notification(RC.read_bytes().replace(b"2026-11-30T10:05", b"2026-11-30T15:05"), RC.name)
    db.session.commit()
    assert sdi_state(fpr02) == dict.fromkeys(fpr02, "RC")
    ids = fpr02 + fpr_ns + fpa01

    def filtered(state):
        return sorted(
            db.session.scalars(select(Document.id).where(Document.id.in_(ids), state_condition(state)))
        )

    assert filtered("NS") == sorted(fpr_ns)
    assert filtered("RC") == sorted(fpr02)
    assert filtered("none") == sorted(fpa01)


def _about(path: Path, invoice_file: str, sdi_id: str) -> tuple[bytes, str]:
    """A fixture notification about `invoice_file`, with its own SdI id."""
    data = path.read_bytes()
    data = re.sub(rb"<NomeFile>[^<]*</NomeFile>", f"<NomeFile>{invoice_file}</NomeFile>".encode(), data)
    data = re.sub(rb"<IdentificativoSdI>[^<]*<", f"<IdentificativoSdI>{sdi_id}<".encode(), data)
    data = re.sub(rb"<MessageId>[^<]*<", f"<MessageId>{sdi_id}<".encode(), data)
    return data, path.name.replace(path.name.split("_")[1], sdi_id)


def test_an_rc_imported_after_a_later_ns_does_not_hide_it(app_ctx):
    """The state is the notification the SdI issued last (by its date), not the row imported last: an RC dated
    before the NS but imported after it leaves the document «SdI NS» everywhere (state, fate, list filter,
    history); a notification without a date (NE) follows what was imported before it."""
    from mailer.models import Document
    from mailer.services.sdi import fates, history, import_notification, sdi_state, state_condition
    from tests.support.batches import make_document, make_party_with_contacts

    party = make_party_with_contacts("SDI", [])
    rejected, accepted = make_document(party, number="F6"), make_document(party, number="F2")
    rejected.sdi_file_name, accepted.sdi_file_name = "IT01234567890_F6.xml", "IT01234567890_F2.xml"
    db.session.commit()
    import_notification(*_about(NS, "IT01234567890_F6.xml", "201"))  # received 30/11 12:00
    import_notification(*_about(RC, "IT01234567890_F6.xml", "202"))  # delivered 30/11 10:05, imported later
    import_notification(*_about(RC, "IT01234567890_F2.xml", "203"))
    import_notification(*_about(NE, "IT01234567890_F2.xml", "204"))  # no SdI date: after the RC
    db.session.commit()
    assert sdi_state([rejected.id, accepted.id]) == {rejected.id: "NS", accepted.id: "NE"}
    assert fates([rejected.id, accepted.id])[rejected.id].kind == "NS"
    assert fates([accepted.id])[accepted.id].kind == "RC"
    assert [n.kind for n in history(rejected)] == ["NS", "RC"]
    in_state = {
        state: set(db.session.scalars(select(Document.id).where(state_condition(state))))
        for state in ("NS", "RC", "NE")
    }
    assert in_state == {"NS": {rejected.id}, "RC": set(), "NE": {accepted.id}}


def test_pages_show_sdi_history_state_and_unmatched(client, auth, app, samples_dir):
    from mailer.services.sdi import import_notification

    with app.app_context():
        fpr02 = _import_invoice(samples_dir, "IT01234567890_FPR02.xml")
        fpr_ns = _import_invoice(samples_dir, "IT01234567890_FPR06.xml")
        fpa01 = _import_invoice(samples_dir, "IT01234567890_FPA01.xml")
        for path in (MC, NS, AT):
            import_notification(path.read_bytes(), path.name)
        db.session.commit()
    auth.login("operator")
    detail = client.get(f"/documenti/{fpr_ns[0]}").get_data(as_text=True)
    assert "Notifica di scarto" in detail and "00404" in detail and "Fattura duplicata" in detail
    assert "Verificare la partita IVA del cliente" in detail
    mc = client.get(f"/documenti/{fpr02[0]}").get_data(as_text=True)
    assert "Mancata consegna" in mc and "area riservata" in mc
    # the list filtered by SdI state
    listed = client.get("/documenti/?sdi=NS").get_data(as_text=True)
    assert f'/documenti/{fpr_ns[0]}"' in listed and f'/documenti/{fpr02[0]}"' not in listed
    assert "SdI NS" in listed
    none = client.get("/documenti/?sdi=none").get_data(as_text=True)
    assert f'/documenti/{fpa01[0]}"' in none and f'/documenti/{fpr_ns[0]}"' not in none
    # the notifications page: matched ones link to their documents, the unmatched one says so
    page = client.get("/documenti/sdi")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "IT99999999999_00001.xml" in text and "nessun documento" in text
    assert f'/documenti/{fpr_ns[0]}"' in text


def test_sales_may_not_see_notifications(client, auth):
    auth.login("sales", roles=["sales"])
    assert client.get("/documenti/sdi").status_code == 403


def test_api_posts_notifications_and_sets_sdi_file_name(client, app, make_token):
    import base64

    from mailer.models import SdiNotification

    token = make_token(scopes=("documents:write", "parties:write", "sdi:write"))
    other = make_token(scopes=("documents:write",))
    assert (
        client.post(
            "/api/v1/parties", json={"code": "C0001", "name": "Rossi Forniture S.r.l."}, headers=bearer(token)
        ).status_code
        == 201
    )
    doc = {
        "type": "FATTURA",
        "number": "2026/7",
        "date": "2026-11-30",
        "party_code": "C0001",
        "sdi_file_name": "IT01234567890_FPR02.xml",
    }
    bad = client.post(
        "/api/v1/documents",
        json={**doc, "number": "2026/8", "sdi_file_name": "../x.xml"},
        headers=bearer(token),
    )
    assert bad.status_code == 422 and "sdi_file_name" in bad.get_json()["fields"]
    created = client.post("/api/v1/documents", json=doc, headers=bearer(token))
    assert created.status_code == 201 and created.get_json()["sdi_file_name"] == "IT01234567890_FPR02.xml"
    body = {"file_name": MC.name, "content_base64": base64.b64encode(_sign(MC.read_bytes())).decode()}
    assert client.post("/api/v1/sdi-notifications", json=body, headers=bearer(other)).status_code == 403
    response = client.post("/api/v1/sdi-notifications", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["kind"] == "MC" and response.get_json()["documents"] == [
        created.get_json()["id"]
    ]
    again = client.post("/api/v1/sdi-notifications", json=body, headers=bearer(token))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    forged = client.post(
        "/api/v1/sdi-notifications",
        headers=bearer(token),
        json={"file_name": "x.xml", "content_base64": base64.b64encode(XXE).decode()},
    )
    assert forged.status_code == 422 and "DTD" in forged.get_json()["fields"]["content_base64"]
    with app.app_context():
        rows = db.session.scalars(select(SdiNotification)).all()
        assert [(n.kind, n.source) for n in rows] == [("MC", "api")]


def test_spool_recognises_notifications_by_name_and_root(app, samples_dir):
    import os

    from mailer.models import Document, SdiNotification
    from mailer.services.spool import import_spool

    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    folder = app.config["SPOOL_DIR"]
    os.makedirs(folder, exist_ok=True)
    (Path(folder) / "IT01234567890_FPR02.xml").write_bytes(
        (samples_dir / "fatturapa" / "IT01234567890_FPR02.xml").read_bytes()
    )
    (Path(folder) / "IT01234567890_11112_MC_001.xml.p7m").write_bytes(_sign(MC.read_bytes()))
    (Path(folder) / "esito.xml").write_bytes(NS.read_bytes())  # recognised by its root element
    (Path(folder) / "IT01234567890_11117_RC_001.xml").write_bytes(XXE)
    with app.app_context():
        report = import_spool()
        kinds = sorted(i.get("sdi_kind", "") for i in report.imported)
        assert kinds == ["", "MC", "NS"], report.imported
        assert [e["file"] for e in report.errors] == ["IT01234567890_11117_RC_001.xml"]
        assert "DTD" in report.errors[0]["error"]
        doc = db.session.scalar(select(Document).where(Document.sdi_file_name == "IT01234567890_FPR02.xml"))
        mc = db.session.scalar(select(SdiNotification).where(SdiNotification.kind == "MC"))
        assert doc is not None and mc.source == "spool"
        from mailer.services.sdi import sdi_state

        assert sdi_state([doc.id]) == {doc.id: "MC"}


def test_batch_review_shows_sdi_state_next_to_documents(app, client, auth):
    from types import SimpleNamespace

    from mailer.models import Document
    from mailer.services.sdi import import_notification
    from tests.support.batches import make_account, make_sending_batch

    with app.app_context():
        account = make_account(SimpleNamespace(host="127.0.0.1", port=1))
        batch = make_sending_batch(account, ["a@cliente.example", "b@cliente.example"], status="ready")
        batch_id = batch.id
        first, second = db.session.scalars(select(Document).order_by(Document.id)).all()
        first.sdi_file_name = "IT01234567890_FPR06.xml"  # the NS file names it
        second.sdi_file_name = "IT01234567890_FPR02.xml"
        import_notification(NS.read_bytes(), NS.name)
        import_notification(RC.read_bytes(), RC.name)
        db.session.commit()
    auth.login("admin")
    text = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "SdI NS" in text and "SdI RC" in text, text[:2000]
    # Not colour alone: a mark for the eye and the outcome's name for screen readers.
    assert (
        '<span aria-hidden="true">✗</span> SdI NS<span class="visually-hidden">: Notifica di scarto</span>'
        in text
    )
    assert (
        '<span aria-hidden="true">✓</span> SdI RC<span class="visually-hidden">: Ricevuta di consegna</span>'
        in text
    )


def test_upload_page_records_the_file_name(client, auth, app, samples_dir):
    from mailer.models import Document

    auth.login("operator")
    with open(samples_dir / "fatturapa" / "IT01234567890_FPR02.xml", "rb") as handle:
        response = client.post(
            "/documenti/import",
            data={"files": [(handle, "IT01234567890_FPR02.xml")]},
            content_type="multipart/form-data",
        )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Document.sdi_file_name)).all() == ["IT01234567890_FPR02.xml"]


def test_notifications_page_hides_documents_of_types_the_user_may_not_see(client, auth, app, samples_dir):
    from mailer.services.sdi import import_notification

    with app.app_context():
        fpr02 = _import_invoice(samples_dir, "IT01234567890_FPR02.xml")
        import_notification(RC.read_bytes(), RC.name)
        db.session.commit()
    auth.login("ddt_only", roles=["operator"], send_types=["DDT"])
    text = client.get("/documenti/sdi").get_data(as_text=True)
    assert f'/documenti/{fpr02[0]}"' not in text
    assert "documenti di un tipo che non puoi vedere" in text and "nessun documento" not in text
