"""The misbehaving SMTP test server does what the other tests rely on."""

import smtplib

import pytest


def _send(server, rcpt, login=None):
    """Send one short message with smtplib."""
    with smtplib.SMTP(server.host, server.port, timeout=5) as conn:
        if login:
            conn.login(*login)
        conn.sendmail("mittente@example.com", [rcpt], b"Subject: prova\r\n\r\nciao\r\n")


def test_scripted_replies(smtp_server):
    """451 then ok; 550 is permanent; drop closes the connection."""
    smtp_server.rules["a@example.com"] = [451, "ok"]
    smtp_server.rules["b@example.com"] = [550]
    smtp_server.rules["c@example.com"] = ["drop"]
    with pytest.raises(smtplib.SMTPDataError) as temp:
        _send(smtp_server, "a@example.com")
    assert temp.value.smtp_code == 451
    _send(smtp_server, "a@example.com")
    with pytest.raises(smtplib.SMTPDataError) as perm:
        _send(smtp_server, "b@example.com")
    assert perm.value.smtp_code == 550
    with pytest.raises(smtplib.SMTPServerDisconnected):
        _send(smtp_server, "c@example.com")
    assert smtp_server.accepted_to("a@example.com") == 1
    assert smtp_server.accepted_to("b@example.com") == 0
    assert smtp_server.accepted_to("c@example.com") == 0


def test_auth_required(smtp_server_auth):
    """Wrong password is refused, the right one works."""
    with pytest.raises(smtplib.SMTPAuthenticationError):
        _send(smtp_server_auth, "x@example.com", login=("mittente", "sbagliata"))
    _send(smtp_server_auth, "x@example.com", login=("mittente", "segreta-123"))
    assert smtp_server_auth.accepted_to("x@example.com") == 1
