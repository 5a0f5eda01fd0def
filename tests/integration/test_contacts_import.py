"""Import of anagrafiche and contacts: CSV and XLSX, dry run with line numbers, all-or-nothing, upsert."""

import io

import pytest
from openpyxl import Workbook

from mailer.extensions import db
from tests.support.contacts import valid_vat

GOOD_VAT = valid_vat("2222222")
PARTIES_OK = f"""codice;ragione_sociale;tipo;partita_iva;citta;provincia;zona;agente
N001;Nuova Uno S.r.l.;cliente;{GOOD_VAT};Bergamo;BG;NORD;A1
C001;ACME Utensili S.p.A.;entrambi;;Milano;MI;NORD;A1
"""
PARTIES_BAD = f"""codice;ragione_sociale;tipo;partita_iva;codice_fiscale;provincia;zona;agente;categoria
N001;Buona;cliente;{GOOD_VAT};;MI;NORD;A1;ING
N002;Cattiva IVA;cliente;{GOOD_VAT[:-1]}{(int(GOOD_VAT[-1]) + 1) % 10};;MI;;;
N003;CF errato;fornitore;;RSSMRA80A01H501X;XX;ZONA9;A9;CAT9
N001;Duplicata;cliente;;;;;;
"""


def xlsx(rows):
    """An XLSX file with the rows."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def party_names(app):
    """ERP code -> name of every party."""
    from mailer.models import Party

    with app.app_context():
        return dict(db.session.execute(db.select(Party.erp_code, Party.name)).all())


def test_dry_run_lists_every_bad_row_and_writes_nothing(app_ctx, world):
    """Every bad row is reported with its line and reasons; nothing is written."""
    from mailer.services.party_import import import_parties

    report = import_parties(PARTIES_BAD.encode(), "clienti.csv", dry_run=False)
    assert not report.applied and report.rows == 4
    by_line = {e.line: " | ".join(e.reasons) for e in report.errors}
    assert set(by_line) == {3, 4, 5}
    assert "cifra di controllo" in by_line[3]
    assert "Codice fiscale non valido" in by_line[4] and "Sigla di provincia sconosciuta: «XX»" in by_line[4]
    assert "zona «ZONA9» sconosciuta" in by_line[4] and "agente «A9» sconosciuto" in by_line[4]
    assert "categoria «CAT9» sconosciuta" in by_line[4]
    assert "codice «N001» duplicato (già alla riga 2)" in by_line[5]
    from mailer.models import Party

    assert db.session.scalar(db.select(db.func.count(Party.id))) == 3  # only the fixture's


def test_import_parties_upserts_by_code(app, world, runner):
    """CLI: inserts new codes, updates existing ones; --dry-run writes nothing."""
    path = app.instance_path + "/clienti.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(PARTIES_OK)
    result = runner.invoke(args=["import-parties", path, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 nuove, 1 da aggiornare" in result.output
    assert "Nuova Uno S.r.l." not in party_names(app).values()
    result = runner.invoke(args=["import-parties", path])
    assert result.exit_code == 0, result.output
    assert "1 nuove, 1 aggiornate" in result.output
    names = party_names(app)
    assert names["N001"] == "Nuova Uno S.r.l." and names["C001"] == "ACME Utensili S.p.A."
    from mailer.models import AuditEvent, Party

    with app.app_context():
        acme = db.session.scalar(db.select(Party).where(Party.erp_code == "C001"))
        assert acme.kind == "both" and acme.zone.code == "NORD" and len(acme.contacts) == 4  # contacts kept
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "contacts.import_parties"))


def test_cli_reports_errors_and_exit_code(app, world, runner):
    """A bad file: exit code 1, one line per bad row, no change."""
    path = app.instance_path + "/bad.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(PARTIES_BAD)
    result = runner.invoke(args=["import-parties", path])
    assert result.exit_code == 1
    assert "Riga 3:" in result.output and "Riga 5:" in result.output
    assert "nessuna modifica scritta" in result.output
    assert "N001" not in party_names(app)


def test_missing_required_column(app_ctx):
    """A file without the required columns is refused as a whole, saying which."""
    from mailer.services.party_import import ImportFileError, import_parties

    with pytest.raises(ImportFileError, match="mancano le colonne obbligatorie: ragione_sociale"):
        import_parties(b"codice;citta\nX;Roma\n", "x.csv")


def test_xlsx_contacts_import(app, world):
    """Contacts from XLSX: function defaults when documenti is empty, PEC from the domain, update by e-mail."""
    from mailer.models import Contact
    from mailer.services.party_import import import_contacts

    data = xlsx(
        [
            [
                "Codice anagrafica",
                "Nome",
                "Funzione",
                "E-mail",
                "Documenti",
                "Riservatezza",
                "Caratteristiche",
            ],
            [
                "F001",
                "Ufficio amministrazione",
                "amministrazione",
                "amm@gamma.legalmail.it",
                None,
                0,
                "fiera",
            ],
            ["C001", "Mario Pubblico", None, "mario@acme.it", "DDT,FATTURA", 0, None],
        ]
    )
    with app.app_context():
        report = import_contacts(data, "contatti.xlsx", clearance=1, dry_run=False)
        assert report.applied and report.errors == []
        assert (report.created, report.updated) == (1, 1)
        amm = db.session.scalar(db.select(Contact).where(Contact.name == "Ufficio amministrazione"))
        assert amm.is_pec and not amm.pec_flag_manual
        assert {"FATTURA", "ESTRATTO_CONTO"} <= amm.document_type_codes
        assert [t.name for t in amm.tags] == ["fiera"]
        mario = db.session.get(Contact, world["mario"])
        assert mario.document_type_codes == {"DDT", "FATTURA"}


def test_contacts_import_errors(app, world):
    """Unknown party, bad e-mail, level above the importer, unknown type, duplicate row: all reported, nothing written."""
    from mailer.models import Contact
    from mailer.services.party_import import import_contacts

    csv_text = (
        "codice_anagrafica,nome,email,riservatezza,documenti\n"
        "ZZZ,Nessuno,nessuno@x.it,0,\n"
        "C001,Email Rotta,rotta@@x.it,0,\n"
        "C001,Troppo Alto,alto@acme.it,3,\n"
        "C001,Tipo Strano,tipo@acme.it,0,FATTURA,\n"
        "C001,Tipo Strano,tipo@acme.it,0,XYZ\n"
        "F001,Buono,buono@gamma.it,0,\n"
    )
    with app.app_context():
        before = db.session.scalar(db.select(db.func.count(Contact.id)))
        report = import_contacts(csv_text.encode(), "c.csv", clearance=1, dry_run=False)
        reasons = {e.line: " | ".join(e.reasons) for e in report.errors}
        assert "anagrafica «ZZZ» sconosciuta" in reasons[2]
        assert "email: Indirizzo e-mail non valido" in reasons[3]
        assert "riservatezza: Non puoi assegnare" in reasons[4]
        assert "contatto ripetuto (già alla riga 5)" in reasons[6] and "XYZ" in reasons[6]
        assert 7 not in reasons
        assert not report.applied
        assert db.session.scalar(db.select(db.func.count(Contact.id))) == before


def test_import_never_touches_hidden_contact(app, world):
    """An importer with clearance 1 whose row has a hidden contact's e-mail creates a new contact: the
    confidential one is neither revealed nor overwritten."""
    from mailer.models import Contact
    from mailer.services.party_import import import_contacts

    data = b"codice_anagrafica;nome;email\nC001;Altro nome;carla.segreta@acme.it\n"
    with app.app_context():
        report = import_contacts(data, "c.csv", clearance=1, dry_run=False)
        assert (report.created, report.updated) == (1, 0)
        carla = db.session.get(Contact, world["carla"])
        assert carla.name == "Carla Confidenziale"


def test_upload_flow_check_then_apply(client, auth, app, world):
    """Upload: the check shows the counts and a confirm button; applying writes and redirects."""
    auth.login("operator")
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(PARTIES_OK.encode()), "clienti.csv")},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Il file è corretto" in body and "Applica l'import" in body
    assert "N001" not in party_names(app)
    sha = body.split('name="sha" value="')[1].split('"')[0]
    response = client.post(
        "/anagrafiche/import/apply", data={"kind": "parties", "sha": sha, "filename": "clienti.csv"}
    )
    assert response.status_code == 302
    assert party_names(app)["N001"] == "Nuova Uno S.r.l."


def test_upload_with_errors_shows_table(client, auth, app, world):
    """A bad upload shows each bad row with its line number; no confirm button."""
    auth.login("operator")
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(PARTIES_BAD.encode()), "bad.csv")},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "3 righe con errori" in body and '<td class="num">5</td>' in body
    assert "Applica" not in body


def test_upload_wrong_format(client, auth):
    """A file that is neither CSV nor XLSX is refused with a clear message."""
    auth.login("operator")
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "parties", "file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Formato non supportato" in response.get_data(as_text=True)


def test_export_round_trips_through_import(client, auth, app, world):
    """The parties export is an importable file: importing it back changes nothing."""
    auth.login("admin", clearance=3)
    data = client.get("/anagrafiche/export.xlsx?what=parties").data
    from mailer.services.party_import import import_parties

    with app.app_context():
        report = import_parties(data, "export.xlsx", dry_run=True)
        assert report.errors == [] and report.rows == 3 and report.unchanged == 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(client, auth, app, world, fmt):
    """Issue 14.13: values the export guards against spreadsheet formulas (a phone «+39 …», notes «-…»,
    a name «@…», a value that starts with an apostrophe) come back as they were: importing the
    contacts and parties export of the same user gives no error and changes nothing."""
    from mailer.models import Contact, ContactChange, Party
    from mailer.services.contacts import PartyFilters, export_rows
    from mailer.services.party_import import import_contacts, import_parties

    with app.app_context():
        mario = db.session.get(Contact, world["mario"])
        mario.phone, mario.notes = "+39 02 1234 5678", "-- chiamare dopo le 10"
        irene = db.session.get(Contact, world["irene"])
        irene.phone, irene.notes = "+41 44 000 00 00", "'virgolette' iniziali"
        db.session.get(Party, world["gamma"]).name = "@Gamma Forniture"
        db.session.commit()
        before = {what: export_rows(what, PartyFilters(), 3) for what in ("contacts", "parties")}
        changes = db.session.scalar(db.select(db.func.count(ContactChange.id)))
        db.session.remove()
    auth.login("admin", clearance=3)
    contacts_file = client.get(f"/anagrafiche/export.{fmt}?what=contacts").data
    parties_file = client.get(f"/anagrafiche/export.{fmt}?what=parties").data
    assert b"'+39" in contacts_file or fmt == "xlsx"  # the guard is still written
    with app.app_context():
        report = import_parties(parties_file, f"anagrafiche.{fmt}", dry_run=False)
        assert [str(e) for e in report.errors] == [] and report.rows == 3
        assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
        report = import_contacts(contacts_file, f"contatti.{fmt}", clearance=3, dry_run=False)
        assert [f"{e.line}: {e.reasons}" for e in report.errors] == [] and report.rows == 5
        assert (report.created, report.updated, report.unchanged) == (0, 0, 5)
        after = {what: export_rows(what, PartyFilters(), 3) for what in ("contacts", "parties")}
        assert after == before
        assert db.session.get(Contact, world["mario"]).phone == "+39 02 1234 5678"
        assert db.session.get(Party, world["gamma"]).name == "@Gamma Forniture"
        assert db.session.scalar(db.select(db.func.count(ContactChange.id))) == changes


UNCLOSED = (
    "codice_anagrafica;nome;email;note\r\n"
    'C001;Nuovo Uno;uno@acme.it;"nota con un apice aperto\r\n'
    "C001;Nuovo Due;due@acme.it;\r\n"
    "C001;Nuovo Tre;tre@acme.it;ok\r\n"
)


def test_unclosed_quote_is_named_not_swallowed(client, auth, app, world):
    """Issue 14.14: an apostrophe-quote «"» opened and never closed swallowed the rest of the file into one
    field («1 righe, 1 nuovi»); now the file is refused, naming the line where the quote opens."""
    from mailer.services.party_import import ImportFileError, import_contacts

    with app.app_context():
        with pytest.raises(ImportFileError) as info:
            import_contacts(UNCLOSED.encode(), "contatti.csv", clearance=3, dry_run=True)
        message = str(info.value)
        assert message.startswith("Riga 2:") and "non è mai chiuso" in message and "righe 2–4" in message
    auth.login("operator")
    response = client.post(
        "/anagrafiche/import",
        data={"kind": "contacts", "file": (io.BytesIO(UNCLOSED.encode()), "contatti.csv")},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "Riga 2:" in body and "Applica" not in body


@pytest.mark.parametrize(
    "text",
    [
        'codice_anagrafica;nome;email;note\r\nC001;Nuovo Uno;uno@acme.it;"nota\r\nsu due righe"\r\n',  # closed: fine
        'codice_anagrafica;nome;email;note\r\nC001;Nuovo Uno;uno@acme.it;pollici 3"\r\n',  # a quote inside a field
        'codice_anagrafica;nome;email;note\r\nC001;Nuovo Uno;uno@acme.it;"virgolette" e poi testo\r\n',  # lenient as before
    ],
)
def test_quotes_that_close_still_import(app, world, text):
    """Quoted fields that close (even across lines) and quotes inside an unquoted field still import."""
    from mailer.services.party_import import import_contacts

    with app.app_context():
        report = import_contacts(text.encode(), "contatti.csv", clearance=3, dry_run=True)
        assert report.errors == [] and report.rows == 1 and report.created == 1
