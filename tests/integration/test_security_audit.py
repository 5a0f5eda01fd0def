"""The audit log page (filters, pages, exports, itself audited) and the events every area must write."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from mailer.extensions import db
from mailer.formatting import to_local
from mailer.models import AuditEvent, Batch, Delivery, utcnow
from tests.integration.test_batches_web import work
from tests.support.batches import approve_from_page, office_data


def actions(app) -> list[str]:
    """Every audited action so far, oldest first."""
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)))


def events(app, action: str) -> list[AuditEvent]:
    """The events of one action (detached copies of their fields)."""
    with app.app_context():
        rows = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [
            AuditEvent(
                action=e.action,
                username=e.username,
                object_type=e.object_type,
                object_id=e.object_id,
                details=dict(e.details or {}),
                at=e.at,
            )
            for e in rows
        ]


def _csv(response) -> list[list[str]]:
    """Rows of a CSV export."""
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))


def _seed(app, n: int, **fields):
    """n audit events written directly."""
    with app.app_context():
        for i in range(n):
            db.session.add(
                AuditEvent(
                    action=fields.get("action", "batch.export"),
                    username=fields.get("username", "mario"),
                    object_type=fields.get("object_type", "Batch"),
                    object_id=fields.get("object_id", str(i)),
                    at=fields.get("at", utcnow()),
                    details={"format": "csv"},
                )
            )
        db.session.commit()


def test_page_lists_filters_and_pages(app, client, auth):
    """Newest first; user, action, group, period and object filters; 50 a page; fragment for htmx."""
    forty_days_ago = utcnow() - timedelta(days=40)
    _seed(app, 60)
    _seed(app, 3, action="batch.approve", username="capo", object_id="7")
    _seed(
        app,
        2,
        action="contacts.export",
        username="luisa",
        object_type="",
        object_id="",
        at=forty_days_ago,
    )
    auth.login("admin")
    page = client.get("/admin/registro/").get_data(as_text=True)
    assert "Registro attività" in page and "66 eventi" in page and "pagina 1 di 2" in page
    table = page.split("<tbody>")[1]
    assert table.index("Accesso") < table.index("Invio approvato")  # the admin's login is the newest
    assert "Invio approvato" in page and "Export esiti" in page
    by_user = client.get("/admin/registro/?user=capo").get_data(as_text=True)
    assert "3 eventi" in by_user and "Export esiti" not in by_user.split("<tbody>")[1]
    assert "3 eventi" in client.get("/admin/registro/?action=batch.approve").get_data(as_text=True)
    assert "63 eventi" in client.get("/admin/registro/?action=batch.").get_data(as_text=True)
    by_object = client.get("/admin/registro/?object_type=Batch&object_id=7").get_data(as_text=True)
    assert "4 eventi" in by_object
    assert (
        "Invio n. 7" in by_object and ">Invio</option>" in by_object
    )  # objects named in Italian, not "Batch"
    # The period is in days of Rome: from 22:00 UTC (23:00 in winter) the event is already on the next day.
    old = to_local(forty_days_ago).date().isoformat()
    period = client.get(f"/admin/registro/?from={old}&to={old}").get_data(as_text=True)
    assert "2 eventi" in period and "Export contatti" in period
    second = client.get("/admin/registro/?page=2").get_data(as_text=True)
    assert "pagina 2 di 2" in second and "più recenti" in second
    fragment = client.get(
        "/admin/registro/?user=capo", headers={"HX-Request": "true", "HX-Target": "audit-results"}
    )
    assert "<html" not in fragment.get_data(as_text=True) and "3 eventi" in fragment.get_data(as_text=True)
    empty = client.get("/admin/registro/?user=nessuno").get_data(as_text=True)
    assert "Nessun evento corrisponde ai filtri" in empty
    bad = client.get("/admin/registro/?from=ieri&page=abc")
    assert bad.status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_follows_filters_and_is_audited(app, client, auth, fmt):
    """The export holds the filtered events, neutralises formulas, and leaves its own audit event."""
    _seed(app, 4, action="batch.approve", username="capo")
    client.post("/auth/login", data={"username": '=HYPERLINK("http://x")', "password": "x"})
    auth.login("admin")
    response = client.get(f"/admin/registro/export.{fmt}?action=batch.approve")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    if fmt == "csv":
        rows = _csv(response)
    else:
        sheet = load_workbook(io.BytesIO(response.data)).active
        rows = [[str(c) if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["Data e ora", "Utente", "Azione"]
    assert len(rows) == 5 and all(r[3] == "batch.approve" for r in rows[1:])
    every = client.get(f"/admin/registro/export.{fmt}?action=login.failed")
    text = every.data.decode("utf-8-sig") if fmt == "csv" else ""
    if fmt == "csv":
        assert "'=hyperlink" in text and ";=hyperlink" not in text  # user names are lowered at login
    exported = events(app, "audit.export")
    assert exported[0].username == "admin" and exported[0].details["rows"] == 4
    assert (
        exported[0].details["filters"] == {"action": "batch.approve"} and exported[0].details["format"] == fmt
    )
    assert client.get("/admin/registro/export.pdf").status_code == 404


def test_users_and_permissions_are_audited(app, client, auth, make_user):
    """Logins, failures, user creation and every change of roles, send types or clearance."""
    client.post("/auth/login", data={"username": "admin", "password": "sbagliata"})
    auth.login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "nuovo",
            "full_name": "Nuovo",
            "roles": ["operator"],
            "clearance": "1",
            "send_types": ["FATTURA"],
            "password": "una-password-lunga",
            "password2": "una-password-lunga",
            "active": "1",
        },
    )
    assert response.status_code == 302
    created = events(app, "user.create")[0]
    assert created.details["roles"] == ["operator"] and created.details["send_types"] == ["FATTURA"]
    with app.app_context():
        from mailer.models import User

        uid = db.session.scalar(db.select(User.id).where(User.username == "nuovo"))
    client.post(
        f"/admin/users/{uid}",
        data={
            "full_name": "Nuovo",
            "roles": ["operator", "manager"],
            "clearance": "2",
            "send_types": ["FATTURA", "DDT"],
            "active": "1",
        },
    )
    changes = events(app, "user.update")[0].details["changes"]
    assert changes["roles"] == [["operator"], ["operator", "manager"]]
    assert changes["clearance"] == [1, 2] and changes["send_types"] == [["FATTURA"], ["DDT", "FATTURA"]]
    client.post(
        f"/admin/users/{uid}/password",
        data={"password": "altra-password-lunga", "password2": "altra-password-lunga"},
    )
    reset = events(app, "user.password_reset")
    assert len(reset) == 1 and "altra-password-lunga" not in str(reset[0].details)
    assert "login.failed" in actions(app) and "login" in actions(app)


def test_contact_changes_are_audited_without_their_values(app, client, auth, world):
    """Create, update and delete of a contact each leave an event naming the fields, not the values."""
    auth.login("operatore", roles=["operator"], clearance=3)
    data = {"name": "Nuova Persona", "email": "nuova.persona@acme.it", "pec": "auto", "privacy_level": "2"}
    assert client.post(f"/anagrafiche/{world['acme']}/contacts", data=data).status_code == 302
    with app.app_context():
        from mailer.models import Contact

        cid = db.session.scalar(db.select(Contact.id).where(Contact.email == "nuova.persona@acme.it"))
    client.post(f"/anagrafiche/contacts/{cid}", data={**data, "email": "cambiata@acme.it"})
    client.post(f"/anagrafiche/contacts/{cid}/delete")
    created, updated, deleted = (events(app, f"contact.{a}") for a in ("create", "update", "delete"))
    assert created[0].object_id == str(cid) and created[0].username == "operatore"
    assert created[0].details["party_id"] == world["acme"] and created[0].details["privacy_level"] == 2
    assert updated[0].details["fields"] == ["email"]
    assert len(deleted) == 1
    for event in created + updated + deleted:
        assert "acme.it" not in str(event.details) and "Nuova Persona" not in str(event.details)


def test_imports_are_audited(app, client, auth, samples_dir):
    """Party/contact files, FatturaPA uploads and the spool folder each leave an event (one per file)."""
    auth.login("operatore", roles=["operator"])
    csv_data = b"codice;ragione_sociale\nIMP1;Importata S.r.l.\n"
    checked = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(csv_data), "a.csv")},
        content_type="multipart/form-data",
    )
    sha = re.search(r'name="sha" value="([0-9a-f]+)"', checked.get_data(as_text=True)).group(1)
    client.post("/anagrafiche/import/apply", data={"kind": "parties", "sha": sha, "filename": "a.csv"})
    contacts = b"codice_anagrafica;nome;email\nIMP1;Ufficio;ufficio@importata.example\n"
    checked = client.post(
        "/anagrafiche/import",
        data={"kind": "contacts", "file": (io.BytesIO(contacts), "c.csv")},
        content_type="multipart/form-data",
    )
    sha = re.search(r'name="sha" value="([0-9a-f]+)"', checked.get_data(as_text=True)).group(1)
    client.post("/anagrafiche/import/apply", data={"kind": "contacts", "sha": sha, "filename": "c.csv"})
    assert events(app, "contacts.import_parties")[0].details["filename"] == "a.csv"
    assert events(app, "contacts.import_contacts")[0].details["filename"] == "c.csv"
    assert not events(app, "contact.create")  # one event for the file, not one per contact
    sample = samples_dir / "fatturapa" / "IT01234567890_FPR02.xml"
    client.post(
        "/documenti/import",
        data={"files": (io.BytesIO(sample.read_bytes()), sample.name)},
        content_type="multipart/form-data",
    )
    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    os.makedirs(app.config["SPOOL_DIR"], exist_ok=True)
    shutil.copy(samples_dir / "fatturapa" / "IT01234567890_FPA01.xml", app.config["SPOOL_DIR"])
    client.post("/documenti/spool/run")
    files = [e.details["file"] for e in events(app, "document.import_fatturapa")]
    assert sample.name in files and "IT01234567890_FPA01.xml" in files


@pytest.fixture
def office(app, smtp_server):
    """Office data for a batch (types FATTURA, DDT, INSOLUTO)."""
    with app.app_context():
        return office_data(smtp_server)


def test_batch_steps_and_exports_are_audited(app, client, auth, office, smtp_server):
    """Prepare, reject, approve, send, retry, and the exports of results and contacts, by whom."""
    types = ["FATTURA", "DDT", "INSOLUTO"]
    auth.login("operatore", roles=["operator"], clearance=3, send_types=types)
    first = client.post(
        "/invii/nuovo", data={"type": ["FATTURA"], "date_from": "2026-11-01", "date_to": "2026-11-30"}
    )
    first_id = int(re.search(r"/invii/(\d+)", first.headers["Location"]).group(1))
    work(app)
    client.get("/anagrafiche/export.csv")
    auth.logout()
    auth.login("capo", roles=["manager"], clearance=3, send_types=types)
    client.post(f"/invii/{first_id}/respingi", data={"reason": "Date sbagliate"})
    auth.logout()
    auth.login("operatore", create=False)
    second = client.post(
        "/invii/nuovo",
        data={"type": ["FATTURA"], "date_from": "2026-11-01", "date_to": "2026-11-30", "only_unsent": "1"},
    )
    second_id = int(re.search(r"/invii/(\d+)", second.headers["Location"]).group(1))
    work(app)
    auth.logout()
    auth.login("capo", create=False)
    approve_from_page(client, second_id, send_now=True)
    work(app)
    with app.app_context():
        assert db.session.get(Batch, second_id).status == "done"
        delivery = db.session.scalar(
            db.select(Delivery).where(Delivery.batch_id == second_id, Delivery.status == "sent")
        )
        delivery.status = "failed"
        db.session.commit()
    client.post(f"/invii/{second_id}/ritenta")
    client.get(f"/invii/{second_id}/esiti.xlsx")
    by_action = {
        a: events(app, a)
        for a in (
            "batch.prepare",
            "batch.reject",
            "batch.approve",
            "batch.send",
            "batch.retry",
            "batch.export",
            "contacts.export",
        )
    }
    assert [e.username for e in by_action["batch.prepare"]] == ["operatore", "operatore"]
    assert by_action["batch.reject"][0].username == "capo" and by_action["batch.reject"][0].object_id == str(
        first_id
    )
    assert by_action["batch.approve"][0].object_id == str(second_id)
    assert by_action["batch.send"][0].username == "capo"
    assert by_action["batch.retry"][0].details["count"] == 1
    assert by_action["batch.export"][0].details["format"] == "xlsx"
    assert by_action["contacts.export"][0].username == "operatore"
