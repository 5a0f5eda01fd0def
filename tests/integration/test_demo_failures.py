"""The demo shows failures too: the capture server refuses «rifiuta@…» (550 5.1.1) and defers «riprova@…»
(451 4.7.1) the first times, and the demo data has such contacts, so a demo batch ends with one
delivery failed and one sent after a retry."""
from __future__ import annotations

import smtplib

import pytest

from mailer.transport import capture
from tests.support.services import free_port


@pytest.fixture
def capture_server(tmp_path):
    """A real capture server on loopback, deferring «riprova» twice."""
    controller = capture.make_controller(str(tmp_path / "captured"), "127.0.0.1", free_port(), defer_times=2)
    controller.start()
    yield controller
    controller.stop()


def _send(controller, recipient: str):
    with smtplib.SMTP(controller.hostname, controller.port, timeout=5) as conn:
        return conn.sendmail("documenti@example.com", [recipient], b"Subject: prova\r\n\r\nciao\r\n")


def test_capture_server_refuses_rifiuta_permanently(capture_server, tmp_path):
    """«rifiuta@…» (also «rifiuta.qualcosa@…») gets 550 5.1.1 every time; nothing is stored."""
    for recipient in ("rifiuta@prove.example.com", "Rifiuta.Fatture@altro.example.com", "rifiuta@prove.example.com"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(capture_server, recipient)
        code, text = refused.value.recipients[recipient]
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    assert capture.list_captured(tmp_path / "captured")[1] == 0


def test_capture_server_defers_riprova_then_accepts(capture_server, tmp_path):
    """«riprova@…» gets 451 4.7.1 the first two times, then the message is kept; counted per address."""
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(capture_server, "riprova@prove.example.com")
        code, text = refused.value.recipients["riprova@prove.example.com"]
        assert code == 451 and text.startswith(b"4.7.1"), (code, text)
    assert _send(capture_server, "riprova@prove.example.com") == {}
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # another address starts its own count
        _send(capture_server, "riprova@altro.example.com")
    # Ordinary addresses are kept at once, as before.
    assert _send(capture_server, "mario.rossi@prove.example.com") == {}
    assert capture.list_captured(tmp_path / "captured")[1] == 2
