"""Bounces from every real mail system (issue 13.2): recipients, status codes, permanent vs temporary,
and the automatic messages that are never bounces. Pure functions over the corpus in tests/data/bounces
(sources and licences in its SOURCES.md); no database."""

from __future__ import annotations

import pytest

from mailer.transport.inbound import read_message
from tests.support.bounce_corpus import CORPUS, expected, flufl_alone, flufl_coverage, measure
from tests.support.receipts import dsn_bounce

MID = "<1700000000.1.2.rcp7@azienda.example>"


def _read(name: str):
    """Our reading of one corpus file."""
    return read_message((CORPUS / name).read_bytes(), check_signature=False)


def test_real_world_collection_figures():
    """≥ 95% recognised, recipients and permanence right in ≥ 95%, no false positive (benchmarks/bounces.py
    prints the same figures)."""
    figures = measure()
    assert figures.bounces >= 150 and figures.non_bounces >= 35
    assert figures.percent(figures.recognised) >= 95, figures.missed
    assert figures.percent(figures.recipients_right) >= 95, figures.wrong_recipients
    assert figures.percent(figures.permanence_right) >= 95, figures.wrong_permanence
    assert figures.false_positives == []


def test_every_bounce_flufl_recognises_we_recognise_with_its_addresses():
    """flufl.bounce's own test corpus (and the rest): wherever it finds addresses, we find at least those."""
    recognised, short = flufl_coverage()
    assert recognised >= 140
    assert short == []


def test_formats_both_readers_missed_are_all_right():
    """The constructed files (the providers' published forms) are all read right."""
    figures = measure(constructed=True)
    assert figures.bounces >= 14 and figures.non_bounces >= 8
    assert (figures.missed, figures.wrong_recipients, figures.wrong_permanence, figures.false_positives) == (
        [],
        [],
        [],
        [],
    )


@pytest.mark.parametrize(
    "name, address, status, action",
    [
        ("own/o365_text_ndr.eml", "mario.bianchi@cliente-o365.example", "5.1.10", "failed"),
        ("own/gmail_address_not_found.eml", "luca.verdi@cliente-gmail.example", "5.1.1", "failed"),
        ("own/exim_failed.eml", "anna.neri@cliente-exim.example", "5.1.1", "failed"),
        ("own/exim_delay.eml", "paolo.gialli@cliente-lento.example", "4.7.1", "delayed"),
        ("own/domino_failure.eml", "giulia.rosa@cliente-domino.example", "", "failed"),
        ("own/mdaemon_permanent.eml", "rocco.blu@cliente-md.example", "5.1.1", "failed"),
        ("own/russian_mailru.eml", "ivan.petrov@cliente-ru.example", "550", "failed"),
        ("own/japanese_provider.eml", "taro.yamada@cliente-jp.example", "5.1.1", "failed"),
        ("own/mailer_daemon_null_encoded.eml", "franco.viola@cliente-it.example", "5.1.1", "failed"),
        ("own/ses_text_bounce.eml", "sara.oro@cliente-ses.example", "", "failed"),
        ("own/dsn_no_action.eml", "elena.grigi@cliente-a.example", "5.1.1", "failed"),
        ("own/dsn_odd_action.eml", "marco.azzurri@cliente-b.example", "5.2.1", "failed"),
        ("own/dsn_no_recipient_fields.eml", "chiara.bruni@cliente-c.example", "5.2.2", "failed"),
        ("own/dsn_delayed_original_recipient.eml", "vendite@cliente-d.example", "4.4.1", "delayed"),
        ("bounce_email/tt_bounce_12_soft.eml", "info@radioliepaja.lv", "", "delayed"),
        ("flufl/simple_38.txt", "userx@example.com", "", "failed"),  # Dovecot's rejection, sent as an MDN
    ],
)
def test_each_format_names_its_recipient_with_status_and_action(name, address, status, action):
    """MAILER-DAEMON <>, encoded subjects, odd or missing Action lines, reports without per-recipient
    fields, plain-text delay warnings, Office 365, Gmail, SES, Exim, Domino, MDaemon, Russian, Japanese."""
    info = _read(name)
    assert info.kind == "bounce"
    assert [r.as_dict() for r in info.bounce.recipients] == [
        {"address": address, "status": status, "action": action}
    ]
    assert info.receipt_type == ("permanent" if action == "failed" else "temporary")


@pytest.mark.parametrize(
    "name, why",
    [
        ("own/autoreply_it.eml", "risposta automatica"),
        ("own/autoreply_outlook_en.eml", "risposta automatica"),
        ("own/vacation_de.eml", "risposta automatica"),
        ("own/autoreply_address_changed.eml", "risposta automatica"),
        ("own/autoreply_subject_echo.eml", "risposta automatica"),  # «mancato recapito» in our own subject
        ("own/mdn_read.eml", "conferma di lettura"),
        ("own/arf_abuse.eml", "segnalazione di abuso"),
        ("bounce_email/bounce-auto-respond.eml", "segnalazione di abuso"),
        ("flufl/qmail_08.txt", "risposta automatica"),
    ],
)
def test_auto_replies_read_receipts_and_feedback_reports_are_never_bounces(name, why):
    """Kept as «other», saying what they are."""
    info = _read(name)
    assert info.kind == "other" and info.bounce is None
    assert any(why in note for note in info.notes)


def test_a_dsn_names_the_address_we_sent_to_and_drops_repeats():
    """Original-Recipient (ours) before Final-Recipient (after forwarding), which is kept as the other name;
    the same recipient reported eleven times is one recipient."""
    info = _read("own/dsn_delayed_original_recipient.eml")
    assert info.bounce.recipients[0].also == ["forward.target@altrove.example"]
    assert info.bounce.addresses() == {"vendite@cliente-d.example", "forward.target@altrove.example"}
    assert len(_read("flufl/dsn_11.txt").bounce.recipients) == 1


def test_mixed_report_is_permanent_only_for_the_failed_recipient():
    """One recipient failed, another only delayed: the report is permanent, each keeps its own action."""
    raw = (
        dsn_bounce(MID, "a@x.example")
        .replace(b"Last-Attempt-Date", b"X-Ignored", 1)
        .replace(
            b"\r\n\r\n--BOUNDARY-DSN-1\r\nContent-Description: Undelivered",
            b"\r\n\r\nFinal-Recipient: rfc822; b@x.example\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
            b"\r\n--BOUNDARY-DSN-1\r\nContent-Description: Undelivered",
            1,
        )
    )
    info = read_message(raw)
    assert [r.as_dict() for r in info.bounce.recipients] == [
        {"address": "a@x.example", "status": "5.1.1", "action": "failed"},
        {"address": "b@x.example", "status": "4.2.2", "action": "delayed"},
    ]
    assert info.receipt_type == "permanent" and info.bounce.addresses(permanent_only=True) == {"a@x.example"}


def test_corpus_labels_cover_every_file_and_flufl_is_there():
    """Every stored message is labelled (a new file without a label would go unmeasured)."""
    stored = {
        str(p.relative_to(CORPUS))
        for p in CORPUS.glob("*/*")
        if p.suffix in (".txt", ".eml") and not p.name.startswith(("LICENSE", "NOTICE"))
    }
    assert stored == set(expected())
    temporary, permanent = flufl_alone((CORPUS / "flufl/postfix_01.txt").read_bytes())
    assert permanent == {"xxxxx@local.ie"} and not temporary


def test_ordinary_mail_is_not_scanned_and_big_returned_attachments_are_skipped(monkeypatch):
    """GNU Mailman's line-by-line detectors run only on likely bounces, and without the returned
    original's attachments (a 5 MB PDF would take them seconds)."""
    from mailer.transport import bounces

    seen = []
    real = bounces.read_flufl
    monkeypatch.setattr(bounces, "read_flufl", lambda msg: seen.append(msg) or real(msg))
    ordinary = (CORPUS / "mail_parser/mail_test_13.eml").read_bytes()
    assert read_message(ordinary).kind == "other" and seen == []
    pdf = b"JVBERi0xLjQK" * 400_000
    raw = (
        (
            b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example\r\nTo: f@azienda.example\r\nSubject: failure notice\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=AA\r\n\r\n--AA\r\nContent-Type: text/plain\r\n\r\n"
            b"Hi. This is the qmail-send program at mx.example.\r\n"
            b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<r@x.example>:\r\n"
            b"550 5.1.1 no mailbox here by that name\r\n\r\n--AA\r\nContent-Type: message/rfc822\r\n\r\n"
            b"From: f@azienda.example\r\nTo: r@x.example\r\nMessage-ID: <orig@azienda.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: application/pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        + pdf
        + b"\r\n--BB--\r\n\r\n--AA--\r\n"
    )
    info = read_message(raw)
    assert info.referenced_message_id == "orig@azienda.example"
    assert [r.as_dict() for r in info.bounce.recipients] == [
        {"address": "r@x.example", "status": "5.1.1", "action": "failed"}
    ]
    scanned = bounces.flufl._lightened(seen[-1])
    assert all(
        part.get_payload() == "" for part in scanned.walk() if part.get_content_type() == "application/pdf"
    )
