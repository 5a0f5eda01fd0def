"""Spool folder: sidecar and name convention, done/ and error/ with a reason, crash half-way."""

from __future__ import annotations

import json
import os

import pytest

from mailer.extensions import db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def drop(folder, name, sidecar=None, data=PDF):
    """Put a PDF (and its sidecar) in the spool folder, as the ERP does."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)
    if sidecar is not None:
        with open(os.path.join(folder, name[:-4] + ".json"), "w") as handle:
            json.dump(sidecar, handle)


def count_documents():
    """Documents in the database."""
    from mailer.models import Document

    return db.session.scalar(db.select(db.func.count(Document.id)))


def test_sidecar_and_name_convention(app, spool):
    """Both conventions import; files move to done/; the PDF is stored with its hash."""
    drop(
        spool,
        "ft-7.pdf",
        {
            "type": "FATTURA",
            "number": "7",
            "date": "2024-05-02",
            "party_code": "C0001",
            "total": "122.00",
            "total_net": "100.00",
            "total_vat": "22.00",
        },
    )
    drop(spool, "DDT__2024-05-03__55__C0001.pdf")
    from mailer.models import Document
    from mailer.services.spool import import_spool

    with app.app_context():
        report = import_spool()
        assert not report.errors and len(report.imported) == 2
        invoice = db.session.scalar(db.select(Document).where(Document.type_code == "FATTURA"))
        assert str(invoice.total) == "122.00" and invoice.source == "spool" and not invoice.pdf_rendered
        import hashlib

        assert invoice.pdf_sha256 == hashlib.sha256(PDF).hexdigest()
        ddt = db.session.scalar(db.select(Document).where(Document.type_code == "DDT"))
        assert ddt.number == "55" and ddt.date.isoformat() == "2024-05-03"
    assert sorted(os.listdir(os.path.join(spool, "done"))) == [
        "DDT__2024-05-03__55__C0001.pdf",
        "ft-7.json",
        "ft-7.pdf",
    ]
    assert not [n for n in os.listdir(spool) if n.endswith((".pdf", ".json"))]


@pytest.mark.parametrize(
    "name, sidecar, reason",
    [
        ("senza.pdf", None, "manca il file JSON"),
        (
            "ignoto.pdf",
            {"type": "FATTURA", "number": "1", "date": "2024-01-01", "party_code": "ZZZ"},
            "sconosciuta",
        ),
        ("data.pdf", {"type": "FATTURA", "number": "1", "date": "ieri", "party_code": "C0001"}, "date"),
    ],
)
def test_refused_files_go_to_error_with_reason(app, spool, name, sidecar, reason):
    """A file that cannot be imported goes to error/ with <name>.reason.txt in Italian."""
    drop(spool, name, sidecar)
    from mailer.services.spool import import_spool

    with app.app_context():
        report = import_spool()
        assert len(report.errors) == 1 and count_documents() == 0
    error_dir = os.path.join(spool, "error")
    assert name in os.listdir(error_dir)
    with open(os.path.join(error_dir, name + ".reason.txt"), encoding="utf-8") as handle:
        assert reason in handle.read()


def test_not_a_pdf_and_broken_json(app, spool):
    """Broken sidecar JSON and a non-PDF file are refused, the others imported."""
    drop(
        spool,
        "a.pdf",
        {"type": "FATTURA", "number": "1", "date": "2024-01-01", "party_code": "C0001"},
        data=b"hello",
    )
    with open(os.path.join(spool, "b.json"), "w") as handle:
        handle.write("{broken")
    drop(spool, "b.pdf")
    drop(spool, "c.pdf", {"type": "OFFERTA", "number": "9", "date": "2024-01-01", "party_code": "C0001"})
    from mailer.services.spool import import_spool

    with app.app_context():
        report = import_spool()
        assert {e["file"] for e in report.errors} == {"a.pdf", "b.pdf"}
        assert [i["file"] for i in report.imported] == ["c.pdf"]


def test_files_being_written_are_left_alone(app, spool):
    """Temporary names and files younger than SPOOL_MIN_AGE_SECONDS wait for the next run."""
    drop(spool, "x.pdf.part")
    app.config["SPOOL_MIN_AGE_SECONDS"] = 3600
    drop(spool, "DDT__2024-05-03__1__C0001.pdf")
    from mailer.services.spool import import_spool

    with app.app_context():
        assert import_spool().imported == []
    assert "DDT__2024-05-03__1__C0001.pdf" in os.listdir(spool) and "x.pdf.part" in os.listdir(spool)


def test_crash_half_way_loses_nothing_and_imports_once(app, spool, monkeypatch):
    """The job is killed after committing file 2 of 4 (before moving it): the next run finishes the job,
    every file ends in done/, each document exists once."""
    for n in range(1, 5):
        drop(spool, f"FATTURA__2024-06-0{n}__{n}__C0001.pdf", data=PDF + str(n).encode())
    from mailer.services import spool as spool_service

    real_move = spool_service._move
    calls = {"n": 0}

    def dying_move(root, target, main, sidecar, reason=""):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("worker stopped")  # like SIGINT/SIGTERM in the middle of the run
        return real_move(root, target, main, sidecar, reason)

    monkeypatch.setattr(spool_service, "_move", dying_move)
    with app.app_context():
        with pytest.raises(KeyboardInterrupt):
            spool_service.import_spool()
        db.session.rollback()
        assert count_documents() == 2  # file 2 was committed but not moved
    assert len(os.listdir(os.path.join(spool, "processing"))) == 1
    monkeypatch.setattr(spool_service, "_move", real_move)
    with app.app_context():
        report = spool_service.import_spool()
        assert report.resumed == 1 and not report.errors
        assert [i.get("already_imported") for i in report.imported] == [True, False, False]
        assert count_documents() == 4
    done = sorted(os.listdir(os.path.join(spool, "done")))
    assert len(done) == 4 and os.listdir(os.path.join(spool, "processing")) == []


def test_half_claimed_pair_is_reunited(app, spool):
    """A stop between claiming the sidecar and the PDF: the next run pulls the PDF back in."""
    drop(spool, "p.pdf", {"type": "FATTURA", "number": "3", "date": "2024-01-01", "party_code": "C0001"})
    os.makedirs(os.path.join(spool, "processing"), exist_ok=True)
    os.rename(os.path.join(spool, "p.json"), os.path.join(spool, "processing", "p.json"))
    from mailer.services.spool import import_spool

    with app.app_context():
        report = import_spool()
        assert [i["number"] for i in report.imported] == ["3"] and not report.errors
    assert sorted(os.listdir(os.path.join(spool, "done"))) == ["p.json", "p.pdf"]


def test_fatturapa_in_spool(app, spool, samples_dir):
    """A FatturaPA file dropped in the spool folder is imported like an upload."""
    data = (samples_dir / "fatturapa" / "IT01234567890_FPA03.xml").read_bytes()
    drop(spool, "IT01234567890_FPA03.xml", data=data)
    from mailer.services.spool import import_spool

    with app.app_context():
        report = import_spool()
        assert sorted(i["number"] for i in report.imported) == ["12", "456"]


def test_cli_and_job(app, spool, runner):
    """`flask spool import` and the RQ job run the same import."""
    drop(spool, "DDT__2024-05-03__77__C0001.pdf")
    result = runner.invoke(args=["spool", "import", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["imported"][0]["number"] == "77"
    drop(spool, "DDT__2024-05-03__78__C0001.pdf")
    from mailer.jobs.spool import import_spool_job

    with app.app_context():
        assert import_spool_job()["imported"] == 1


def test_spooled_pdf_appears_in_documents_page(app, spool, client, auth):
    """A PDF dropped in the spool folder appears in the documents page, and its preview is that PDF."""
    drop(spool, "FATTURA__2024-05-03__901__C0001.pdf")
    auth.login("operator")
    client.post("/documenti/spool/run")
    page = client.get("/documenti/?party=901").get_data(as_text=True)
    assert "901" in page and "Rossi Forniture" in page
    from mailer.models import Document

    with app.app_context():
        doc_id = db.session.scalar(db.select(Document.id))
    assert client.get(f"/documenti/{doc_id}/pdf").data == PDF


def test_an_unexpected_error_on_one_file_goes_to_error_and_the_run_goes_on(app, spool, monkeypatch):
    """A failure that is about the file (here the database refusing a value) sends it to error/ with the
    reason; the other files are imported; a later run does not stop on it again."""
    from sqlalchemy.exc import DataError

    from mailer.services import spool as spool_service

    real = spool_service._import_pdf

    def refuse_one(path, name, sidecar, sha):
        if name.startswith("DDT__2024-05-03__1__"):
            raise DataError("INSERT ...", {}, Exception("value too long for type character varying(40)"))
        return real(path, name, sidecar, sha)

    monkeypatch.setattr(spool_service, "_import_pdf", refuse_one)
    drop(spool, "DDT__2024-05-03__1__C0001.pdf")
    drop(spool, "DDT__2024-05-03__2__C0001.pdf")
    with app.app_context():
        report = spool_service.import_spool()
        assert [e["file"] for e in report.errors] == ["DDT__2024-05-03__1__C0001.pdf"]
        assert "errore inatteso" in report.errors[0]["error"] and "DataError" in report.errors[0]["error"]
        assert [i["file"] for i in report.imported] == ["DDT__2024-05-03__2__C0001.pdf"]
        assert count_documents() == 1
        assert spool_service.import_spool().errors == []  # nothing left to stop on
    errors = os.listdir(os.path.join(spool, "error"))
    assert "DDT__2024-05-03__1__C0001.pdf" in errors and os.listdir(os.path.join(spool, "processing")) == []


def test_database_unavailable_leaves_the_file_for_the_next_run(app, spool, monkeypatch):
    """An unreachable database is not the file's fault: the run stops, the file waits in processing/, and
    the next run (database back) imports it."""
    from sqlalchemy.exc import OperationalError

    from mailer.services import spool as spool_service

    real = spool_service._import_pdf
    monkeypatch.setattr(
        spool_service,
        "_import_pdf",
        lambda *a: (_ for _ in ()).throw(
            OperationalError("SELECT 1", {}, Exception("could not connect to server"))
        ),
    )
    drop(spool, "DDT__2024-05-03__3__C0001.pdf")
    with app.app_context():
        with pytest.raises(OperationalError):
            spool_service.import_spool()
        assert os.listdir(os.path.join(spool, "processing")) == ["DDT__2024-05-03__3__C0001.pdf"]
        monkeypatch.setattr(spool_service, "_import_pdf", real)
        report = spool_service.import_spool()
        assert report.resumed == 1 and [i["file"] for i in report.imported] == [
            "DDT__2024-05-03__3__C0001.pdf"
        ]
    assert not os.path.exists(os.path.join(spool, "error")) or os.listdir(os.path.join(spool, "error")) == []
