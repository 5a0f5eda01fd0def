"""The DATA section handed to the server: CRLF line ends, dot-stuffing, the terminating dot."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailer.transport.smtp import wire_payload


def _reference(data: bytes) -> bytes:
    """RFC 5321 4.5.2 written out line by line: every line end becomes CRLF, a leading dot is doubled."""
    lines, current, i = [], bytearray(), 0
    while i < len(data):
        byte = data[i : i + 1]
        if byte == b"\r" and data[i + 1 : i + 2] == b"\n":
            lines.append(bytes(current))
            current = bytearray()
            i += 2
        elif byte in (b"\r", b"\n"):
            lines.append(bytes(current))
            current = bytearray()
            i += 1
        else:
            current += byte
            i += 1
    if current:
        lines.append(bytes(current))
    out = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
    return (out or b"\r\n") + b".\r\n"


@given(
    st.lists(st.sampled_from([b"a", b".", b"..", b"\r", b"\n", b"\r\n", b" ", b"\xe8"]), max_size=40).map(
        b"".join
    )
)
def test_matches_the_rule_line_by_line(data):
    """Any bytes, bare CR and LF included: the same as the rule applied line by line."""
    assert wire_payload(data) == _reference(data)


def test_canonical_message_passes_through_unchanged():
    """What our builder makes (CRLF, no leading dots) is only terminated."""
    data = b"Subject: x\r\n\r\nriga uno\r\nriga due\r\n"
    assert wire_payload(data) == data + b".\r\n"


def test_leading_dots_and_bare_line_ends():
    """A line that starts with a dot is doubled, bare LF and CR become CRLF, a missing final CRLF is added."""
    assert wire_payload(b".inizio\n.\r\nfine\r..x") == b"..inizio\r\n..\r\nfine\r\n...x\r\n.\r\n"
