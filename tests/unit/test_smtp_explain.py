"""SMTP replies explained in Italian: real replies of Gmail, Outlook/Exchange, Postfix, Exim, qmail and
Italian providers (from the bounce corpus in tests/data/bounces and the providers' published texts)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from mailer.services import smtp_explain as sx

CASES = [
    # Gmail (corpus: bounce_email/tt_bounce_*), unknown address
    (
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try double-checking "
        "the recipient's email address for typos or unnecessary spaces.",
        sx.UNKNOWN_MAILBOX,
    ),
    # Gmail, spam block (corpus)
    (
        550,
        "5.7.1 [94.136.40.141 12] Our system has detected that this message is likely unsolicited mail. "
        "To reduce the amount of spam sent to Gmail, this message has been blocked.",
        sx.POLICY,
    ),
    # Gmail, over quota, temporary and permanent (support.google.com/a/answer/3726730)
    (452, "4.2.2 The email account that you tried to reach is over quota.", sx.MAILBOX_FULL_TEMPORARY),
    (552, "5.2.2 The email account that you tried to reach is over quota.", sx.MAILBOX_FULL),
    # Gmail, size
    (552, "5.3.4 Your message exceeded Google's message size limits.", sx.TOO_BIG),
    # Gmail, rate
    (
        450,
        "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional "
        "messages from being delivered.",
        sx.GREYLISTED,
    ),
    (421, "4.7.0 Try again later, closing connection.", sx.UNAVAILABLE),
    # Outlook / Exchange Online (corpus: RESOLVER.ADR.RecipNotFound)
    (550, "5.1.1 RESOLVER.ADR.RecipNotFound; not found", sx.UNKNOWN_MAILBOX),
    (550, "5.5.0 Requested action not taken: mailbox unavailable", sx.UNKNOWN_MAILBOX),
    (550, "5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus.", sx.POLICY),
    (535, "5.7.3 Authentication unsuccessful", sx.AUTH),
    (
        451,
        "4.4.4 Mail received as unauthenticated, incoming to a recipient domain configured in a hosted tenant "
        "which has no mail-enabled subscriptions.",
        sx.NO_ANSWER,
    ),
    # Postfix (corpus)
    (
        550,
        "5.1.1 <annas@sfl.lv>: Recipient address rejected: User unknown in virtual mailbox table",
        sx.UNKNOWN_MAILBOX,
    ),
    (
        554,
        "5.7.1 <aaaaagggrrriiiizz@inbox.lv>: Recipient address rejected: Nonexistent user",
        sx.UNKNOWN_MAILBOX,
    ),
    (554, "5.7.1 <x@example.it>: Relay access denied", sx.POLICY),
    (
        450,
        "4.7.1 <x@example.it>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/",
        sx.GREYLISTED,
    ),
    (452, "4.3.1 Insufficient system storage", sx.NO_STORAGE),
    (451, "4.3.0 Error: queue file write error", sx.LOCAL_ERROR),
    (
        None,
        "Host or domain name not found. Name service error for name=altrove.example type=MX",
        sx.UNKNOWN_DOMAIN,
    ),
    (None, "connect to mx.altrove.example[192.0.2.9]:25: Connection timed out", sx.NO_ANSWER),
    # Exim and qmail (corpus)
    (550, "sorry, no mailbox here by that name. (#5.7.17)", sx.UNKNOWN_MAILBOX),
    (552, "Account(s) <agrisa@one.lv> does not have enough space", sx.MAILBOX_FULL),
    (553, "Exceeded maximum inbound message size", sx.TOO_BIG),
    (None, "550 Rihards_Freimanis@exigengroup.com... No such user", sx.UNKNOWN_MAILBOX),
    (550, "5.2.1 mailbox disabled", sx.DISABLED_MAILBOX),
    # Italian providers and our capture server
    (550, "5.1.1 Casella inesistente (rifiuto dimostrativo del server di cattura)", sx.UNKNOWN_MAILBOX),
    (451, "4.7.1 Riprova più tardi", sx.GREYLISTED),
    # only a code
    (421, "", sx.UNAVAILABLE),
    (450, "", sx.GREYLISTED),
    (451, "", sx.LOCAL_ERROR),
    (452, "", sx.NO_STORAGE),
    (554, "", sx.OTHER_PERMANENT),
    (550, "5.4.4 Unable to route: no mail hosts for domain", sx.ROUTING),
    (503, "5.5.1 Bad sequence of commands", sx.PROTOCOL),
]


@pytest.mark.parametrize(("code", "reply", "meaning"), CASES)
def test_real_replies_have_their_meaning(code, reply, meaning):
    """Each reply gets the sentence that fits it, with an action that says what to do."""
    got = sx.explain_reply(code, reply)
    assert got is meaning, (code, reply, got)
    assert got.meaning and got.action


@pytest.mark.parametrize(("code", "reply", "meaning"), CASES)
def test_permanence_follows_the_code(code, reply, meaning):
    """4xx means try again (the sender retries), 5xx means something has to change."""
    basic, enhanced = sx.status_codes(code, reply)
    klass = enhanced[:1] or str(basic or "")[:1]
    if not klass:
        pytest.skip("no code: the words decide")
    assert sx.explain_reply(code, reply).permanent is (klass == "5")


def test_a_fix_of_the_contact_is_offered_only_when_the_address_is_the_problem():
    """Unknown mailbox or domain: fix the contact; full mailbox or spam filter: fixing it would not help."""
    assert sx.explain_reply(550, "5.1.1 User unknown").fix_contact
    assert sx.explain_reply(None, "Host or domain name not found").fix_contact
    assert not sx.explain_reply(552, "5.2.2 Mailbox full").fix_contact
    assert not sx.explain_reply(550, "5.7.1 message blocked as spam").fix_contact
    assert not sx.explain_reply(421, "").fix_contact


@pytest.mark.parametrize(("code", "reply"), [(250, "2.0.0 Ok: queued as 4F1"), (None, ""), (None, "   ")])
def test_success_and_nothing_are_not_explained(code, reply):
    assert sx.explain_reply(code, reply) is None


def test_status_codes_from_a_multiline_reply():
    assert sx.status_codes(None, "550-5.1.1 The email account") == (550, "5.1.1")
    assert sx.status_codes(552, "Account(s) <a@b.lv> does not have enough space") == (552, "")
    assert sx.status_codes(550, "user 1.2.3.4 5.1.10 Null MX") == (550, "5.1.10")


def test_technical_reply_keeps_the_code_once():
    assert sx.technical_reply(550, "5.1.1 User unknown") == "550 5.1.1 User unknown"
    assert sx.technical_reply(550, "550 5.1.1 User unknown") == "550 5.1.1 User unknown"
    assert sx.technical_reply(None, "Connection timed out") == "Connection timed out"


def test_sent_sentence_in_words_with_local_date_and_time():
    """«Inviato il 01/12/2026 alle 11:03 a Mario Rossi <…>, accettato dal server» (UTC 10:03 is 11:03 in Rome)."""
    d = SimpleNamespace(
        sent_at=datetime(2026, 12, 1, 10, 3, tzinfo=UTC),
        recipient_name="Mario Rossi",
        recipient_email="m@x.it",
    )
    assert (
        sx.sent_sentence(d) == "Inviato il 01/12/2026 alle 11:03 a Mario Rossi <m@x.it>, accettato dal server"
    )
    d.recipient_name = ""
    assert sx.sent_sentence(d) == "Inviato il 01/12/2026 alle 11:03 a m@x.it, accettato dal server"
