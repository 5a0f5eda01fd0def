"""Privacy levels on every surface not covered by the contacts and batches tests.

The world (tests/support/security.py) has one party with a public contact (level 0) and a
confidential one (level 3), a sent batch with one delivery to each, their PEC receipts, and users
of every role at clearance 0 ("low-…") and 3 ("w-…"). A low user must find no trace of the
confidential recipient anywhere: not the name, not the address, not a count that includes it.
"""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from tests.support.security import CONFIDENTIAL_EMAIL, CONFIDENTIAL_NAME, PUBLIC_EMAIL, ROLES

SECRET_BITS = (CONFIDENTIAL_EMAIL, CONFIDENTIAL_NAME, "riservato.segreto", "Riservatissima")


def assert_no_secret(text: str, where: str) -> None:
    """Neither the confidential name nor its address appear."""
    for bit in SECRET_BITS:
        assert bit not in text, f"{bit!r} visibile in {where}"


@pytest.fixture(scope="module")
def low(sec_world):
    """Clients of every role at clearance 0."""
    return {role: sec_world.login(f"low-{role}") for role in ROLES}


@pytest.fixture(scope="module")
def high(sec_world):
    """Clients of every role at clearance 3 (to show that the data is there)."""
    return {role: sec_world.login(f"w-{role}") for role in ROLES}


@pytest.mark.parametrize("role", ["admin", "manager", "operator"])
def test_document_detail_lists_only_visible_deliveries(sec_world, low, high, role):
    """The document page says where it was sent: only to the recipients the user may see."""
    url = f"/documenti/{sec_world.ids['document']}"
    assert CONFIDENTIAL_EMAIL in high[role].get(url).get_data(as_text=True)
    page = low[role].get(url).get_data(as_text=True)
    assert PUBLIC_EMAIL in page
    assert_no_secret(page, url)
    assert_no_secret(low[role].get("/documenti/").get_data(as_text=True), "/documenti/")


@pytest.mark.parametrize("role", ["admin", "manager", "operator"])
def test_batch_pages_and_exports_leave_out_the_confidential_recipient(sec_world, low, high, role):
    """Detail (every view), fragment, progress, index counts, CSV and XLSX exports."""
    batch = sec_world.ids["batch"]
    client = low[role]
    for view in (
        "all",
        "sent",
        "failed",
        "uncertain",
        "waiting",
        "excluded",
        "accepted",
        "delivered",
        "notdelivered",
        "bounced",
    ):
        page = client.get(f"/invii/{batch}?vista={view}").get_data(as_text=True)
        assert_no_secret(page, f"vista {view}")
    searched = client.get(
        f"/invii/{batch}?q=riservato", headers={"HX-Request": "true", "HX-Target": "delivery-table"}
    )
    assert_no_secret(searched.get_data(as_text=True), "ricerca")
    page = client.get(f"/invii/{batch}").get_data(as_text=True)
    full = high[role].get(f"/invii/{batch}").get_data(as_text=True)
    assert CONFIDENTIAL_EMAIL in full
    progress = client.get(f"/invii/{batch}/avanzamento").get_data(as_text=True)
    assert re.search(r"\b1\b", progress) and not re.search(r"\b2\b\s*(su|/|di)", progress)
    index = client.get("/invii/").get_data(as_text=True)
    assert_no_secret(index, "/invii/")
    csv_text = client.get(f"/invii/{batch}/esiti.csv").data.decode("utf-8-sig")
    assert PUBLIC_EMAIL in csv_text
    assert_no_secret(csv_text, "esiti.csv")
    assert len(csv_text.strip().splitlines()) == 2
    sheet = load_workbook(io.BytesIO(client.get(f"/invii/{batch}/esiti.xlsx").data)).active
    cells = " ".join(str(c) for r in sheet.iter_rows(values_only=True) for c in r if c is not None)
    assert_no_secret(cells, "esiti.xlsx")
    assert page.count(PUBLIC_EMAIL) >= 1


@pytest.mark.parametrize(
    "suffix",
    ["", "/corpo", "/documenti/{document}.pdf", "/messaggio.eml", "/ricevute/{receipt_confidential}.eml"],
)
@pytest.mark.parametrize("role", ["admin", "manager", "operator"])
def test_confidential_delivery_urls_answer_404(sec_world, low, high, role, suffix):
    """Preview, body, attachment, .eml and PEC receipt of a hidden delivery: 404, as if it did not exist."""
    ids = sec_world.ids
    url = f"/invii/{ids['batch']}/recapiti/{ids['delivery_confidential']}" + suffix.format(**ids)
    assert high[role].get(url).status_code == 200, url
    response = low[role].get(url)
    assert response.status_code == 404, url
    assert_no_secret(response.get_data(as_text=True), url)
    resolve = low[role].post(
        f"/invii/{ids['batch']}/recapiti/{ids['delivery_confidential']}/esito", data={"action": "mark_sent"}
    )
    assert resolve.status_code in (403, 404)


@pytest.mark.parametrize("role", ["admin", "manager", "operator"])
def test_receipts_page_leaves_out_the_confidential_receipt(sec_world, low, high, role):
    """«Ricevute e rimbalzi»: the hidden delivery's receipt is not listed, searched or downloadable."""
    ids = sec_world.ids
    assert CONFIDENTIAL_EMAIL in high[role].get("/ricevute/").get_data(as_text=True)
    assert high[role].get(f"/ricevute/{ids['receipt_confidential']}.eml").status_code == 200
    for url in ("/ricevute/", "/ricevute/?q=riservato", "/ricevute/?q=sec-confidential"):
        page = low[role].get(url).get_data(as_text=True)
        assert_no_secret(page, url)
        assert f"/ricevute/{ids['receipt_confidential']}.eml" not in page
    assert f"/ricevute/{ids['receipt_public']}.eml" in low[role].get("/ricevute/").get_data(as_text=True)
    response = low[role].get(f"/ricevute/{ids['receipt_confidential']}.eml")
    assert response.status_code == 404
    assert_no_secret(response.get_data(as_text=True), "download")


@pytest.mark.parametrize("role", ROLES)
def test_dashboard_counts_only_visible_deliveries(sec_world, low, high, role):
    """The last results and the 30-day chart count what the user may see."""
    if role == "sales":
        page = low[role].get("/").get_data(as_text=True)
        assert "Invio di prova" not in page  # a documents batch: not for sales
        assert_no_secret(page, "cruscotto")
        return
    # the batch's name links to it (dashboards per role: counts and names are links)
    row = re.compile(r"Invio di prova</a></td>\s*<td class=\"num\">(\d+)</td>")
    assert row.search(high[role].get("/").get_data(as_text=True)).group(1) == "2"
    page = low[role].get("/").get_data(as_text=True)
    assert row.search(page).group(1) == "1"
    assert ": 1 inviato</title>" in page and ": 2 inviati</title>" not in page  # plurals right (issue 17.7)
    assert_no_secret(page, "cruscotto")


@pytest.mark.parametrize("role", ["sales", "manager", "admin"])
def test_campaign_counts_and_samples_honour_clearance(sec_world, low, high, role):
    """Live count, sample, saved-filter counts and the campaign form's preview count."""
    form = {"c0-type": "kind", "c0-value": "customer"}
    full = high[role].post("/campagne/filtri/conteggio", data=form, headers={"HX-Request": "true"})
    assert CONFIDENTIAL_EMAIL in full.get_data(as_text=True)
    live = (
        low[role]
        .post("/campagne/filtri/conteggio", data=form, headers={"HX-Request": "true"})
        .get_data(as_text=True)
    )
    assert re.search(r"<span>1</span>contatti", live), live[:500]
    assert_no_secret(live, "conteggio")
    built = (
        low[role].post("/campagne/filtri/costruttore", data={**form, "add": "kind"}).get_data(as_text=True)
    )
    assert_no_secret(built, "costruttore")
    assert_no_secret(
        low[role].get(f"/campagne/filtri/{sec_world.ids['filter']}").get_data(as_text=True), "filtro"
    )
    new = low[role].get(f"/campagne/nuova?filter_id={sec_world.ids['filter']}").get_data(as_text=True)
    assert_no_secret(new, "nuova campagna")
    assert_no_secret(low[role].get("/campagne/filtri").get_data(as_text=True), "filtri")


def test_template_preview_never_uses_a_hidden_contact(sec_world, low, high):
    """An admin at clearance 0 cannot pick the confidential contact for the preview, even by id."""
    ids = sec_world.ids
    args = {"preview_doc": ids["document"], "preview_contact": ids["contact_confidential"]}
    full = high["admin"].get("/modelli/FATTURA/it", query_string=args).get_data(as_text=True)
    assert CONFIDENTIAL_NAME in full
    page = low["admin"].get("/modelli/FATTURA/it", query_string=args).get_data(as_text=True)
    assert_no_secret(page, "editor")
    preview = (
        low["admin"]
        .post(
            "/modelli/FATTURA/it/anteprima",
            data={
                **args,
                "subject": "Per {{ contatto.nome }} {{ contatto.email }}",
                "body_html": "<p>{{ contatto.nome }}</p>",
                "body_text": "{{ contatto.nome }}",
            },
        )
        .get_data(as_text=True)
    )
    assert_no_secret(preview, "anteprima")
    version = low["admin"].get("/modelli/FATTURA/it/versioni/1", query_string=args).get_data(as_text=True)
    assert_no_secret(version, "versione")


def test_api_contacts_follow_the_token_clearance(sec_world):
    """A level-0 token neither lists, counts, reads nor overwrites the confidential contact."""
    client = sec_world.client()
    low_token = {"Authorization": f"Bearer {sec_world.tokens['low']}"}
    high_token = {"Authorization": f"Bearer {sec_world.tokens['high']}"}
    full = client.get("/api/v1/parties/SEC001/contacts", headers=high_token).get_json()
    assert full["total"] == 2
    listed = client.get("/api/v1/parties/SEC001/contacts", headers=low_token)
    assert listed.get_json()["total"] == 1
    assert_no_secret(listed.get_data(as_text=True), "API elenco contatti")
    # Writing to the confidential address answers as for any new address (nothing tells it exists):
    # the token gets a contact of its own, the confidential one is untouched.
    overwrite = client.post(
        "/api/v1/parties/SEC001/contacts",
        headers=low_token,
        json={"email": CONFIDENTIAL_EMAIL, "name": "Sovrascritto"},
    )
    assert overwrite.status_code == 201 and overwrite.get_json()["name"] == "Sovrascritto"
    assert CONFIDENTIAL_NAME not in overwrite.get_data(as_text=True)  # (the address is the caller's own)
    items = client.get("/api/v1/parties/SEC001/contacts", headers=high_token).get_json()["items"]
    assert sorted((c["name"], c["privacy_level"]) for c in items if c["email"] == CONFIDENTIAL_EMAIL) == [
        (CONFIDENTIAL_NAME, 3),
        ("Sovrascritto", 0),
    ]
    with sec_world.app.app_context():  # the shared world goes back as it was for the other tests
        from mailer.extensions import db
        from mailer.models import Contact

        db.session.execute(db.delete(Contact).where(Contact.name == "Sovrascritto"))
        db.session.commit()
    raise_level = client.post(
        "/api/v1/parties/SEC001/contacts",
        headers=low_token,
        json={"email": "nuovo@acme.example", "privacy_level": 3},
    )
    assert raise_level.status_code == 422


def test_captured_mail_needs_the_highest_clearance(sec_world, low, high):
    """The capture server keeps every message whole: only an admin at the highest level reads it."""
    message = sec_world.ids["captured"]
    assert high["admin"].get(f"/admin/captured/{message}").status_code == 200
    for url in (
        "/admin/captured",
        f"/admin/captured/{message}",
        f"/admin/captured/{message}/raw",
        f"/admin/captured/{message}/html",
        f"/admin/captured/{message}/attachments/0",
    ):
        assert low["admin"].get(url).status_code == 403, url


def test_audit_log_shows_no_contact_data(sec_world, high, low):
    """The audit log is for administrators of any clearance: contact events carry ids and field names only."""
    page = low["admin"].get("/admin/registro/").get_data(as_text=True)
    assert_no_secret(page, "registro")
    exported = low["admin"].get("/admin/registro/export.csv").data.decode("utf-8-sig")
    assert_no_secret(exported, "registro.csv")
