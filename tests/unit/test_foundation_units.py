"""Pure logic of the foundation: P.IVA generation, logo sniffing, SMTP error texts, capture files."""

from __future__ import annotations

import random
import smtplib
import socket
import ssl

import pytest
from stdnum.it import iva

from mailer.services.company import logo_content_type, normalise_vat
from mailer.services.demo import demo_logo_png, make_vat_number, slugify
from mailer.services.demo.names import CITIES
from mailer.transport import capture


@pytest.mark.parametrize("seed", range(20))
def test_generated_vat_numbers_are_valid(seed):
    """Luhn check digit and a real office code make a P.IVA that python-stdnum accepts."""
    rng = random.Random(seed)
    office = rng.choice(CITIES)[3]
    assert iva.is_valid(make_vat_number(rng, office))


def test_city_data_is_consistent():
    """Five-digit ZIPs, two-letter provinces, office codes in the P.IVA range, known zones."""
    for city, zip_code, province, office, zone in CITIES:
        assert len(zip_code) == 5 and zip_code.isdigit(), city
        assert len(province) == 2 and province.isupper(), city
        assert "001" <= office <= "100", city
        assert zone in {"NO", "NE", "CE", "SU", "IS"}


@pytest.mark.parametrize(
    "value, expected", [("IT06467930159", "06467930159"), (" 064 679 301 59 ", "06467930159")]
)
def test_normalise_vat(value, expected):
    """Spaces and the IT prefix are dropped."""
    assert normalise_vat(value) == expected


def test_normalise_vat_rejects_bad_check_digit():
    """One wrong digit is caught."""
    with pytest.raises(ValueError, match="non valida"):
        normalise_vat("06467930158")


def test_logo_sniffing():
    """PNG and JPEG by their bytes; anything else refused."""
    assert logo_content_type(demo_logo_png()) == "image/png"
    assert logo_content_type(b"\xff\xd8\xff\xe0" + b"\x00" * 20 + b"\xff\xd9") == "image/jpeg"
    assert logo_content_type(b"<svg/>") is None
    assert logo_content_type(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10) is None


def test_slugify():
    """Accents and apostrophes vanish from e-mail local parts."""
    assert slugify("Forlì D'Angelo") == "forlidangelo"


@pytest.mark.parametrize(
    "exc, text",
    [
        (ConnectionRefusedError(), "Connessione rifiutata"),
        (socket.gaierror(), "Nome host sconosciuto"),
        (TimeoutError(), "non ha risposto entro 8 secondi"),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"), "535 5.7.8"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "chiuso la connessione"),
        (ssl.SSLError(1, "WRONG_VERSION_NUMBER"), "Errore TLS"),
    ],
)
def test_smtp_errors_explained_in_italian(exc, text):
    """Each failure has an Italian explanation."""
    from mailer.transport.smtp_check import explain_error

    assert text in explain_error(exc, "smtp.example.com", 587, 8)


def test_capture_store_and_read_back(tmp_path):
    """A stored message reads back with its envelope; ids are checked; clear removes everything."""
    data = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Prova\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nciao\r\n"
    )
    message_id = capture.store_message(
        tmp_path, "a@example.com", ["b@example.com"], data, "127.0.0.1", "utente"
    )
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    message = capture.load_captured(tmp_path, message_id)
    assert (
        message.subject == "Prova" and message.rcpt_tos == ["b@example.com"] and message.auth_user == "utente"
    )
    assert message.body("plain").strip() == "ciao" and message.body("html") is None
    assert capture.load_captured(tmp_path, "../" + message_id) is None
    assert capture.clear_captured(tmp_path) == 1
    assert capture.list_captured(tmp_path) == ([], 0)


def test_audit_details_in_words_for_the_page():
    """The audit page says details in Italian words (sì/no, lists, old → new); exports keep JSON values."""
    from mailer.services.audit_log import details_label, details_text

    details = {
        "automatic": False,
        "types": ["FATTURA", "DDT"],
        "changes": {"four_eyes": [True, False]},
        "count": 3,
        "reason": None,
        "sconosciuta": "x",
    }
    assert details_label(details) == (
        "automatica: no; tipi: FATTURA, DDT; modifiche: controllo a quattro occhi: sì → no; "
        "quanti: 3; motivo: —; sconosciuta: x"
    )
    assert details_text(details).startswith('automatic: false; types: ["FATTURA", "DDT"]')
    assert details_label({}) == "" and details_label(None) == ""
