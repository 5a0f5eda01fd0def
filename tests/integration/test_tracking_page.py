"""The «Ricevute e rimbalzi» page (/ricevute): every received message with filters, its original as .eml,
privacy as on the batch results, and «Leggi ora» queuing the mailbox reading on the real test Redis.

Messages go in through the same code as in production: files through `flask --app app receipts import`,
mailbox messages through record_message with their account (what the IMAP reader calls).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Blob, Delivery, MailAccount, MailboxState, Receipt
from mailer.queue import get_queue
from mailer.services.crypto import encrypt_secret
from mailer.services.tracking import record_message
from tests.support.batches import make_account, make_sending_batch, run_jobs
from tests.support.receipts import MALFORMED, dsn_bounce, forged_receipt

IMAP_PASSWORD = "Segreto-IMAP-page-42!"
LOOPBACK = SimpleNamespace(host="127.0.0.1", port=1)  # nothing is sent: deliveries are written as sent


def _rows(html: str) -> list[str]:
    """The receipt rows of the list (one string per <tr>)."""
    body = html.split('<table class="striped compact receipts">', 1)
    if len(body) < 2:
        return []
    return re.findall(r'<tr id="ricevuta-\d+">.*?</tr>', body[1], flags=re.DOTALL)


def _ids(html: str) -> list[int]:
    """Receipt ids listed, in page order."""
    return [int(x) for x in re.findall(r'<tr id="ricevuta-(\d+)">', html)]


@pytest.fixture
def world(app_ctx, runner, tmp_path):
    """Two sent batches (invoices; dunning letters) and a message of every outcome but «recorded».

    - public@: bounce applied to its delivery (level 0)
    - secret@: bounce applied to its delivery (level 3)
    - forged receipt naming secret2@'s message (level 3): suspect, not linked
    - unknown Message-ID: unmatched; garbage: malformed; a plain e-mail: ignored
    - a bounce read from the PEC account's mailbox (account filter), for a dunning letter (type filter)
    """
    account = make_account(LOOPBACK, name="Ordinario", from_address="fatture@azienda.example")
    pec = make_account(
        LOOPBACK,
        name="PEC aziendale",
        kind="pec",
        from_address="azienda@pec.example",
        imap_host="127.0.0.1",
        imap_port=1,
        imap_username="casella@pec.example",
        imap_password_encrypted=encrypt_secret(IMAP_PASSWORD),
        imap_folder="INBOX",
    )
    invoices = make_sending_batch(
        account,
        ["public@cliente.example", "secret@cliente.example", "secret2@cliente.example"],
        status="done",
    )
    dunning = make_sending_batch(pec, ["sollecito@cliente.example"], status="done")
    dunning.type_codes = ["INSOLUTO"]
    deliveries = {}
    for d in db.session.scalars(db.select(Delivery)):
        d.status, d.message_id = "sent", f"<{d.recipient_email.split('@')[0]}.{d.id}@azienda.example>"
        d.privacy_level = 3 if d.recipient_email.startswith("secret") else 0
        deliveries[d.recipient_email] = d
    db.session.commit()
    mid = {email: d.message_id for email, d in deliveries.items()}
    files = {
        "public.eml": dsn_bounce(mid["public@cliente.example"], "public@cliente.example"),
        "secret.eml": dsn_bounce(mid["secret@cliente.example"], "secret@cliente.example"),
        "forged.eml": forged_receipt(mid["secret2@cliente.example"]),
        "unknown.eml": dsn_bounce("<nessuno.1@altrove.example>", "x@altrove.example"),
        "garbage.eml": MALFORMED[1],
        "plain.eml": (
            b"From: cliente@esempio.example\r\nTo: fatture@azienda.example\r\nSubject: Grazie della fattura"
            b"\r\nMessage-ID: <grazie.1@esempio.example>\r\n\r\nRicevuta, grazie.\r\n"
        ),
    }
    paths = []
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
        paths.append(str(tmp_path / name))
    result = runner.invoke(args=["receipts", "import", *paths])
    assert result.exit_code == 0, result.output
    from_box = record_message(
        dsn_bounce(
            mid["sollecito@cliente.example"],
            "sollecito@cliente.example",
            sender="MAILER-DAEMON@mx.casella.example",
        ),
        db.session.get(MailAccount, pec.id),
        "imap",
        "INBOX",
        1,
        7,
    ).receipt
    by_file = {r.file_name: r for r in db.session.scalars(db.select(Receipt))}
    receipts = {name.removesuffix(".eml"): by_file[name].id for name in files}
    receipts["mailbox"] = from_box.id
    outcomes = {name: db.session.get(Receipt, rid).outcome for name, rid in receipts.items()}
    assert outcomes == {
        "public": "applied",
        "secret": "applied",
        "forged": "suspect",
        "unknown": "unmatched",
        "garbage": "malformed",
        "plain": "ignored",
        "mailbox": "applied",
    }
    return SimpleNamespace(
        receipts=receipts,
        files=files,
        account=account.id,
        pec=pec.id,
        invoices=invoices.id,
        dunning=dunning.id,
        d={e: d.id for e, d in deliveries.items()},
    )


def test_list_shows_every_message_newest_first_with_its_facts(world, client, auth):
    """Every outcome listed, newest first; the matched one links its batch; the .eml link is there."""
    auth.login("manager")
    html = client.get("/ricevute/").get_data(as_text=True)
    r = world.receipts
    assert _ids(html) == [
        r["mailbox"],
        r["plain"],
        r["garbage"],
        r["unknown"],
        r["forged"],
        r["secret"],
        r["public"],
    ]
    assert "7 messaggi" in html
    rows = dict(zip(_ids(html), _rows(html), strict=False))
    public = rows[r["public"]]
    assert "Registrata sul recapito" in public and "Rimbalzo" in public
    assert f'href="/invii/{world.invoices}?q=public@cliente.example"' in public
    assert "public@cliente.example" in public and "550 5.1.1" in public
    assert f"/ricevute/{r['public']}.eml" in public
    assert "Sospetta: non applicata" in rows[r["forged"]] and "non è un gestore PEC" in rows[r["forged"]]
    assert "Nessun recapito con quel Message-ID" in rows[r["unknown"]]
    assert "nessuno.1@altrove.example" in rows[r["unknown"]]
    assert "Messaggio non leggibile" in rows[r["garbage"]]
    assert (
        "Non è una ricevuta né un rimbalzo" in rows[r["plain"]] and "Grazie della fattura" in rows[r["plain"]]
    )
    assert "PEC aziendale" in rows[r["mailbox"]] and "da file" in rows[r["public"]]
    assert all("non firmato" in row for row in rows.values())
    # Received times in Italian, Rome time.
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", rows[r["public"]])
    # The navigation has the page.
    assert 'href="/ricevute/"' in html


@pytest.mark.parametrize(
    "args,expected",
    [
        ({"outcome": "unmatched"}, ["unknown"]),
        ({"outcome": "suspect"}, ["forged"]),
        ({"outcome": "malformed"}, ["garbage"]),
        ({"outcome": "applied"}, ["mailbox", "secret", "public"]),
        ({"kind": "bounce"}, ["mailbox", "unknown", "secret", "public"]),
        ({"kind": "pec-receipt"}, ["forged"]),
        ({"kind": "other"}, ["plain", "garbage"]),
        ({"account": "file"}, ["plain", "garbage", "unknown", "forged", "secret", "public"]),
        ({"q": "GRAZIE della"}, ["plain"]),  # subject, any case
        ({"q": "mx.casella"}, ["mailbox"]),  # sender
        ({"q": "nessuno.1@altrove"}, ["unknown"]),  # referenced Message-ID
        ({"q": "100%"}, []),  # LIKE wildcards are literal
        ({"kind": "bounce", "outcome": "applied", "q": "public"}, ["public"]),
    ],
)
def test_each_filter_filters(world, client, auth, args, expected):
    """Outcome, kind, account, text: the rows are exactly the matching ones (also as the htmx fragment)."""
    auth.login("manager")
    html = client.get("/ricevute/", query_string=args).get_data(as_text=True)
    assert _ids(html) == [world.receipts[name] for name in expected]
    fragment = client.get(
        "/ricevute/", query_string=args, headers={"HX-Request": "true", "HX-Target": "receipt-results"}
    )
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and _ids(text) == _ids(html)
    assert "HX-Request" in fragment.headers.get("Vary", "")
    if not expected:
        assert "Nessun messaggio corrisponde ai filtri" in text


def test_account_filter_and_counts(world, client, auth):
    """The PEC account's mailbox gives its one message; the outcome boxes count under the other filters."""
    auth.login("manager")
    html = client.get("/ricevute/", query_string={"account": world.pec}).get_data(as_text=True)
    assert _ids(html) == [world.receipts["mailbox"]]
    html = client.get("/ricevute/", query_string={"kind": "bounce"}).get_data(as_text=True)
    boxes = {label: int(n) for n, label in re.findall(r"<span>(\d+)</span>([^<]+)</a>", html)}
    assert boxes == {
        "Nessun recapito con quel Message-ID": 1,
        "Sospetta: non applicata": 0,
        "Messaggio non leggibile": 0,
    }
    html = client.get("/ricevute/", query_string={"outcome": "applied"}).get_data(as_text=True)
    boxes = {label: int(n) for n, label in re.findall(r"<span>(\d+)</span>([^<]+)</a>", html)}
    assert boxes == {
        "Nessun recapito con quel Message-ID": 1,
        "Sospetta: non applicata": 1,
        "Messaggio non leggibile": 1,
    }  # the boxes ignore the outcome filter they set


def test_paging(world, client, auth, monkeypatch):
    """Pages of PER_PAGE, newest first, links that keep the filters."""
    from mailer.services import receipt_log

    monkeypatch.setattr(receipt_log, "PER_PAGE", 3)
    auth.login("manager")
    first = client.get("/ricevute/").get_data(as_text=True)
    second = client.get("/ricevute/?page=2").get_data(as_text=True)
    third = client.get("/ricevute/?page=3").get_data(as_text=True)
    assert len(_ids(first)) == 3 and len(_ids(second)) == 3 and len(_ids(third)) == 1
    assert sorted(_ids(first) + _ids(second) + _ids(third)) == sorted(world.receipts.values())
    assert "pagina 2 di 3" in second and 'href="/ricevute/?page=3"' in second
    filtered = client.get("/ricevute/?kind=bounce").get_data(as_text=True)
    assert 'href="/ricevute/?kind=bounce&amp;page=2"' in filtered


def test_download_gives_the_stored_bytes(world, client, auth):
    """Exactly the bytes imported, as message/rfc822 attachment with a safe name; audited."""
    auth.login("operator")
    for name in ("public", "unknown", "garbage", "forged"):
        rid = world.receipts[name]
        response = client.get(f"/ricevute/{rid}.eml")
        assert response.status_code == 200, name
        assert response.data == world.files[f"{name}.eml"]
        assert response.mimetype == "message/rfc822"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="ricevuta-') and disposition.endswith('.eml"')
    public = client.get(f"/ricevute/{world.receipts['public']}.eml")
    assert public.headers["Content-Disposition"] == (
        f'attachment; filename="ricevuta-{world.d["public@cliente.example"]}-{world.receipts["public"]}-permanent.eml"'
    )
    assert (
        db.session.scalar(
            db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "receipt.download")
        )
        == 5
    )
    assert client.get("/ricevute/999999.eml").status_code == 404


def test_a_tampered_original_is_not_served(world, client, auth):
    """A stored original that no longer matches its digest answers 409, not other bytes."""
    receipt = db.session.get(Receipt, world.receipts["unknown"])
    db.session.get(Blob, receipt.raw_sha256).data = b"altro"
    db.session.commit()
    auth.login("manager")
    assert client.get(f"/ricevute/{receipt.id}.eml").status_code == 409


def test_privacy_hides_receipts_of_deliveries_above_clearance(world, client, auth):
    """A clearance-1 manager sees neither the linked receipt of a level-3 delivery nor the forged one that
    names a level-3 message, in the list, the search or the download; unmatched ones still show."""
    auth.login("basso", roles=["manager"], clearance=1)
    html = client.get("/ricevute/").get_data(as_text=True)
    r = world.receipts
    assert _ids(html) == [r["mailbox"], r["plain"], r["garbage"], r["unknown"], r["public"]]
    assert "secret" not in html and "6 messaggi" not in html and "5 messaggi" in html
    assert _ids(client.get("/ricevute/?q=secret").get_data(as_text=True)) == []
    assert "<span>0</span>Sospetta" in client.get("/ricevute/").get_data(as_text=True)
    for name in ("secret", "forged"):
        assert client.get(f"/ricevute/{r[name]}.eml").status_code == 404, name
    assert client.get(f"/ricevute/{r['public']}.eml").status_code == 200
    # The batch page's own download of the same receipt follows the same rule.
    secret = world.d["secret@cliente.example"]
    assert (
        client.get(f"/invii/{world.invoices}/recapiti/{secret}/ricevute/{r['secret']}.eml").status_code == 404
    )
    auth.logout()
    auth.login("alto", roles=["manager"], clearance=3)
    assert client.get(f"/ricevute/{r['secret']}.eml").status_code == 200
    assert r["forged"] in _ids(client.get("/ricevute/").get_data(as_text=True))


def test_batches_the_user_may_not_open_hide_their_receipts(world, client, auth):
    """An operator who may not send dunning letters does not see their receipts (as the batch page refuses)."""
    auth.login("fatture", roles=["operator"], clearance=3, send_types=["FATTURA"])
    html = client.get("/ricevute/").get_data(as_text=True)
    assert world.receipts["mailbox"] not in _ids(html) and world.receipts["public"] in _ids(html)
    assert client.get(f"/ricevute/{world.receipts['mailbox']}.eml").status_code == 404
    assert client.get(f"/invii/{world.dunning}").status_code == 403


@pytest.mark.parametrize("role,status", [("sales", 403), ("operator", 200), ("manager", 200), ("admin", 200)])
def test_who_may_open_the_page(world, client, auth, role, status):
    """Those who follow batch results: operators and managers (admin passes); sales do not."""
    auth.login(role)
    assert client.get("/ricevute/").status_code == status
    assert client.get(f"/ricevute/{world.receipts['unknown']}.eml").status_code == status
    assert client.post(f"/ricevute/caselle/{world.pec}/leggi").status_code == (403 if status == 403 else 302)
    nav = client.get("/").get_data(as_text=True)
    assert ('href="/ricevute/"' in nav) == (status == 200)


def test_anonymous_goes_to_login(world, client):
    """No login, no page."""
    response = client.get("/ricevute/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_mailbox_box_and_read_now_queues_the_job(app, world, client, auth):
    """The box lists the accounts read; «Leggi ora» queues poll_account_job on the real Redis, audited; the
    job runs on a worker and its error shows in words, never the password."""
    auth.login("operator")
    html = client.get("/ricevute/").get_data(as_text=True)
    box = html.split('class="mailbox-box"', 1)[1].split("</article>", 1)[0]
    assert "PEC aziendale" in box and "INBOX" in box and "non ancora letta" in box
    assert "Ordinario" not in box  # no IMAP settings: not read, no button
    assert f'action="/ricevute/caselle/{world.pec}/leggi"' in box and 'name="csrf_token"' in box

    response = client.post(f"/ricevute/caselle/{world.pec}/leggi")
    assert response.status_code == 302 and response.headers["Location"] == "/ricevute/"
    jobs = get_queue().jobs
    assert [(job.func_name, job.args) for job in jobs] == [
        ("mailer.jobs.tracking.poll_account_job", (world.pec,))
    ]
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "mailbox.poll"))
    assert (event.object_type, event.object_id, event.details["job_id"]) == (
        "MailAccount",
        str(world.pec),
        jobs[0].id,
    )
    page = client.get("/ricevute/").get_data(as_text=True)
    assert "Lettura della casella di «PEC aziendale» in coda" in page

    # The worker in its own application context (this test's context holds the logged-in user's session).
    # Nothing listens on 127.0.0.1:1: the reading fails and says so on the state row.
    with app.app_context():
        run_jobs(app)
    db.session.expire_all()
    state = db.session.scalar(db.select(MailboxState).where(MailboxState.account_id == world.pec))
    assert state is not None and state.last_error and state.last_polled_at is not None
    box = (
        client.get("/ricevute/")
        .get_data(as_text=True)
        .split('class="mailbox-box"', 1)[1]
        .split("</article>", 1)[0]
    )
    assert state.last_error in box.replace("&#34;", '"').replace("&#39;", "'")
    assert "non ancora letta" not in box
    assert IMAP_PASSWORD not in box


def test_an_undecryptable_password_is_a_mailbox_error_and_the_others_are_read(world, client, auth):
    """A password the key cannot decrypt is recorded on its state row (shown in the box) and the
    scheduler's job goes on to the next account instead of stopping at the first."""
    from mailer.services.tracking import poll_all
    from mailer.transport.imap import ImapError

    broken = make_account(
        LOOPBACK,
        name="Chiave cambiata",
        imap_host="127.0.0.1",
        imap_port=1,
        imap_password_encrypted="gAAAAAB-non-decifrabile",
    )
    db.session.commit()
    with pytest.raises(ImapError) as raised:
        poll_all()
    assert "decifrare" in str(raised.value) and "non raggiungibile" in str(raised.value)
    errors = dict(db.session.execute(db.select(MailboxState.account_id, MailboxState.last_error)).all())
    assert "CREDENTIALS_KEY" in errors[broken.id] and "non raggiungibile" in errors[world.pec]
    auth.login("manager")
    assert "La password salvata non si può decifrare" in client.get("/ricevute/").get_data(as_text=True)


def test_read_now_refuses_get_missing_csrf_and_accounts_without_imap(world, client, auth):
    """POST only, with the CSRF token, for an active account with IMAP settings; nothing queued otherwise."""
    auth.login("manager")
    url = f"/ricevute/caselle/{world.pec}/leggi"
    assert client.get(url).status_code == 405
    assert client.post(url, csrf=False).status_code == 400
    assert client.post(url, csrf=False, data={"csrf_token": "falso"}).status_code == 400
    assert client.post(f"/ricevute/caselle/{world.account}/leggi").status_code == 404  # no IMAP settings
    assert client.post("/ricevute/caselle/999999/leggi").status_code == 404
    pec = db.session.get(MailAccount, world.pec)
    pec.active = False
    db.session.commit()
    assert client.post(url).status_code == 404
    assert get_queue().count == 0
    assert (
        db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "mailbox.poll"))
        == 0
    )


def test_empty_state_says_what_to_do(app, client, auth):
    """No message yet: how they arrive (IMAP settings, or the import command)."""
    auth.login("admin")
    html = client.get("/ricevute/").get_data(as_text=True)
    assert "Nessun messaggio ricevuto finora" in html
    assert "flask --app app receipts import FILE.eml" in html
    assert "Nessun account di invio ha le impostazioni IMAP" in html
    assert 'href="/admin/accounts' in html or 'href="/admin/account' in html
