"""The message builder keeps every line within the SMTP limit (998 bytes + CRLF), without depending on what
another library registered for utf-8, and keeps the bytes of ordinary messages as they always were."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from pathlib import Path

from mailer.transport.message import MessageSpec, build_message

ROOT = Path(__file__).resolve().parents[2]


def _spec(html: str, text: str = "Testo breve.") -> MessageSpec:
    """A message with the given bodies."""
    return MessageSpec(
        from_address="fatture@azienda.example",
        from_name="Azienda",
        to=[("Rossi", "r@c.example")],
        subject="Fattura n. 1 – novembre",
        html=html,
        text=text,
        message_id="<1.rcp1@azienda.example>",
        date="Tue, 01 Dec 2026 08:00:00 +0100",
    )


def test_a_long_line_is_encoded_within_the_limit_and_arrives_whole():
    """A 5,000-character HTML line (accented, so more bytes than characters) and a long text line."""
    html = (
        "<table>"
        + "".join(f"<tr><td>cliente {i} – perché è fallito</td></tr>" for i in range(120))
        + "</table>"
    )
    text = "riga lunghissima " * 300
    data = build_message(_spec(html, text))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed.get_body(("html",)).get_content().rstrip("\n") == html
    assert parsed.get_body(("plain",)).get_content().rstrip("\n") == text.rstrip("\n")


def test_ordinary_messages_keep_their_bytes_and_do_not_depend_on_import_order():
    """Short lines stay 8bit as they always left (their stored SHA-256 still matches a rebuild), whatever the
    process's registry of charsets says (Flask-Mail changes it globally at import)."""
    script = (
        "import sys, hashlib\n"
        "sys.path.insert(0, %r)\n"
        "from mailer.transport.message import MessageSpec, build_message\n"
        "%s\n"
        "spec = MessageSpec('f@a.example', 'Azienda', [('Rossi', 'r@c.example')], 'Fattura è qui', "
        "'<p>In allegato la fattura, perché sì.</p>', 'In allegato la fattura, perché sì.', '<1@a.example>', "
        "'Tue, 01 Dec 2026 08:00:00 +0100')\n"
        "print(hashlib.sha256(build_message(spec)).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script % (str(ROOT), prelude)], capture_output=True, text=True, check=True
        ).stdout.strip()
        for prelude in (
            "pass",  # as the app runs (Flask-Mail registered utf-8 as 8bit at import)
            # as the standard library has it (utf-8 bodies in base64)
            "import email.charset as c; c.add_charset('utf-8', c.SHORTEST, c.BASE64, 'utf-8')",
        )
    }
    assert len(digests) == 1, "the bytes depend on whether Flask-Mail was imported"
    data = build_message(_spec("<p>In allegato la fattura, perché sì.</p>"))
    assert b"Content-Transfer-Encoding: 8bit" in data and "perché sì".encode() in data


def test_messages_with_attachments_keep_their_bytes():
    """Attachments' base64 bodies are put in after the MIME tree is flattened (much faster than the
    generator's line-by-line writes): the bytes are the ones the stdlib gave, so the SHA-256 stored for each
    message sent still matches a rebuild. Digest taken before the change."""
    import hashlib

    from mailer.transport.message import Attachment

    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 60 + b"\n%%EOF\n"
    cases = [
        [Attachment("FATTURA_2026_1.pdf", "application/pdf", pdf)],
        [
            Attachment("FATTURA_2026_2.pdf", "application/pdf", pdf[::-1]),
            Attachment("logo è.png", "image/png", bytes(range(256)) * 7),
            Attachment("vuoto.txt", "text/plain", b""),
        ],
        [Attachment("a.xml", "", b"<x/>\n" * 100), Attachment("n.bin", "application", b"\x00\xff" * 3000)],
        [],
    ]
    digest = hashlib.sha256()
    for n, attachments in enumerate(cases):
        spec = _spec(f"<p>Fattura n. {n}, perché sì.</p>")
        spec.attachments = attachments
        spec.cc = ["copia@c.example"] if n % 2 else []
        digest.update(build_message(spec))
    assert digest.hexdigest() == "24780447615b3462843ac593bd60ebab90591199f03a12d9f43d940f6f68b4cc"
