"""Property-based tests (hypothesis) of every parser fed from outside: FatturaPA, CSV/XLSX imports,
PEC receipts and bounces, e-mail templates. Hostile or broken input must end in the module's own
error with a message for a person (Italian), never in another exception.

Each property is bounded (max_examples, deadline) so the whole file stays well under 30 seconds.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mailer.services.fatturapa import FatturaPAError, parse_fatturapa
from mailer.services.mail_templates import render_draft, sample_context, validate_template
from mailer.services.spreadsheets import ImportFileError, read_table
from mailer.transport.inbound import read_message

BOUNDED = settings(
    max_examples=60,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What a message for a person must not look like: a Python error leaking through.
PYTHON_NOISE = re.compile(
    r"Traceback|NoneType|object has no attribute|invalid literal|unsupported operand|"
    r"list index|KeyError|TypeError|AttributeError|not subscriptable"
)

FPA_TAGS = [
    "FatturaElettronica",
    "FatturaElettronicaHeader",
    "FatturaElettronicaBody",
    "DatiTrasmissione",
    "CedentePrestatore",
    "CessionarioCommittente",
    "DatiAnagrafici",
    "IdFiscaleIVA",
    "IdPaese",
    "IdCodice",
    "CodiceFiscale",
    "Anagrafica",
    "Denominazione",
    "Sede",
    "Indirizzo",
    "CAP",
    "Comune",
    "Provincia",
    "Nazione",
    "DatiGenerali",
    "DatiGeneraliDocumento",
    "TipoDocumento",
    "Divisa",
    "Data",
    "Numero",
    "ImportoTotaleDocumento",
    "DatiBeniServizi",
    "DettaglioLinee",
    "NumeroLinea",
    "Descrizione",
    "Quantita",
    "PrezzoUnitario",
    "PrezzoTotale",
    "AliquotaIVA",
    "DatiRiepilogo",
    "ImponibileImporto",
    "Imposta",
    "DatiPagamento",
    "DettaglioPagamento",
    "DataScadenzaPagamento",
    "ImportoPagamento",
    "Allegati",
    "NomeAttachment",
    "Attachment",
]


def _check_fatturapa_error(exc: FatturaPAError) -> None:
    """The module's own error, with a message for a person."""
    message = str(exc)
    assert message.strip(), "messaggio vuoto"
    assert not PYTHON_NOISE.search(message), message


def _parse_fatturapa_safely(data: bytes, name: str) -> None:
    """Parse; only FatturaPAError may come out."""
    try:
        parse_fatturapa(data, name)
    except FatturaPAError as exc:
        _check_fatturapa_error(exc)


@st.composite
def xmlish(draw, depth: int = 0) -> str:
    """An XML-looking fragment with FatturaPA element names, random text and sometimes broken markup."""
    tag = draw(st.sampled_from(FPA_TAGS))
    if depth > 3 or draw(st.booleans()):
        body = draw(
            st.one_of(
                st.text(max_size=30),
                st.from_regex(r"-?\d{1,6}([.,]\d{1,8})?", fullmatch=True),
                st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),
                st.sampled_from(["TD01", "TD04", "TD24", "EUR", "IT", "<", "&amp;", "&lt;", "]]>"]),
            )
        )
        body = body if draw(st.integers(0, 5)) == 0 else body.replace("&", "&amp;").replace("<", "&lt;")
    else:
        body = "".join(draw(st.lists(xmlish(depth=depth + 1), max_size=4)))
    close = f"</{tag}>" if draw(st.integers(0, 9)) else draw(st.sampled_from(["", f"</{tag}", "</x>"]))
    return f"<{tag}>{body}{close}"


@BOUNDED
@given(data=st.binary(max_size=2000), name=st.sampled_from(["f.xml", "f.xml.p7m", "f.p7m", "f.XML", ""]))
def test_fatturapa_arbitrary_bytes(data, name):
    """Any bytes, under any name: parsed or refused with FatturaPAError."""
    _parse_fatturapa_safely(data, name)


@BOUNDED
@given(
    body=xmlish(),
    prolog=st.sampled_from(
        ["", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>']
    ),
    ns=st.sampled_from(["", ' xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"']),
)
def test_fatturapa_xmlish_text(body, prolog, ns):
    """XML-ish documents with the right element names and wrong everything else."""
    root = f'<p:FatturaElettronica versione="FPR12"{ns}>{body}</p:FatturaElettronica>'
    _parse_fatturapa_safely((prolog + root).encode("utf-8"), "fattura.xml")


@pytest.fixture(scope="module")
def fatturapa_samples():
    """The real sample invoices (plain XML), or skip when the shared samples are absent."""
    from tests.conftest import SAMPLES

    folder = Path(SAMPLES) / "fatturapa"
    if not folder.is_dir():
        pytest.skip("campioni FatturaPA assenti")
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.xml"))]


def test_real_samples_still_parse(samples_dir, fatturapa_samples):
    """The unmutated samples parse (the mutations below start from valid invoices)."""
    for name, data in fatturapa_samples:
        assert parse_fatturapa(data, name), name


@BOUNDED
@given(data=st.data())
def test_fatturapa_sample_mutations(samples_dir, fatturapa_samples, data):
    """A real invoice with one field's text replaced, a slice cut or repeated, a byte changed, or truncated."""
    name, xml = data.draw(st.sampled_from(fatturapa_samples), label="sample")
    kind = data.draw(
        st.sampled_from(["field", "field", "field", "cut", "repeat", "byte", "truncate"]), label="kind"
    )
    if kind == "field":
        spots = list(re.finditer(rb">([^<>]{1,60})<", xml))
        spot = data.draw(st.sampled_from(spots), label="field")
        new = data.draw(
            st.one_of(
                st.text(max_size=40),
                st.from_regex(r"-?\d{0,12}([.,]\d{0,10})?", fullmatch=True),
                st.sampled_from(
                    [
                        "",
                        " ",
                        "0",
                        "-1",
                        "1e400",
                        "NaN",
                        "2026-02-30",
                        "9999-99-99",
                        "TD99",
                        "XX",
                        "0.000000001",
                        "99999999999999999999.99",
                    ]
                ),
            ),
            label="text",
        )
        new_bytes = new.replace("&", "&amp;").replace("<", "&lt;").encode("utf-8")
        mutated = xml[: spot.start(1)] + new_bytes + xml[spot.end(1) :]
    else:
        a = data.draw(st.integers(0, len(xml) - 1), label="a")
        b = data.draw(st.integers(a, min(len(xml), a + 200)), label="b")
        if kind == "cut":
            mutated = xml[:a] + xml[b:]
        elif kind == "repeat":
            mutated = xml[:b] + xml[a:b] + xml[b:]
        elif kind == "byte":
            mutated = xml[:a] + bytes([data.draw(st.integers(0, 255), label="byte")]) + xml[a + 1 :]
        else:
            mutated = xml[:a]
    _parse_fatturapa_safely(mutated, name)


# ---------------------------------------------------------------- CSV / XLSX imports


def _read_all(data: bytes, name: str) -> None:
    """Read every row; only ImportFileError may come out, with an Italian message."""
    try:
        for _line, cells in read_table(data, name):
            assert all(isinstance(c, str) for c in cells)
    except ImportFileError as exc:
        assert str(exc).strip() and not PYTHON_NOISE.search(str(exc)), str(exc)


@BOUNDED
@given(
    data=st.binary(max_size=1500), name=st.sampled_from(["a.csv", "a.xlsx", "a.txt", "a.CSV", "a.xls", "a"])
)
@example(data=b"\x81\xff", name="a.csv")  # neither UTF-8 nor cp1252: used to crash (UnboundLocalError)
def test_import_reader_arbitrary_bytes(data, name):
    """Any bytes under any name: rows of strings, or ImportFileError."""
    _read_all(data, name)


@BOUNDED
@given(data=st.binary(min_size=1, max_size=300), cut=st.integers(0, 4000))
def test_import_reader_damaged_xlsx(data, cut):
    """A real workbook truncated or with garbage spliced in."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["codice", "ragione_sociale"])
    book.active.append(["C1", "Rossi"])
    buffer = io.BytesIO()
    book.save(buffer)
    raw = buffer.getvalue()
    cut = cut % len(raw)
    _read_all(raw[:cut] + data + raw[cut + len(data) :], "a.xlsx")


CELL = st.one_of(
    st.text(max_size=25),
    st.sampled_from(
        [
            "",
            "IT",
            "12345678903",
            "01234567890",
            "MI",
            "XX",
            "cliente",
            "fornitore",
            "E",
            "mario@",
            "a@b.it",
            "=1+1",
            "si",
            "no",
            "2026-13-01",
            "0",
            "3",
            "-1",
            "FATTURA,DDT",
        ]
    ),
)


@BOUNDED
@given(
    kind=st.sampled_from(["parties", "contacts"]),
    columns=st.lists(
        st.sampled_from(
            [
                "codice",
                "ragione_sociale",
                "tipo",
                "partita_iva",
                "codice_fiscale",
                "provincia",
                "codice_anagrafica",
                "codice_contatto",
                "nome",
                "email",
                "pec",
                "documenti",
                "riservatezza",
                "consenso_marketing",
                "sconosciuta",
            ]
        ),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    rows=st.lists(st.lists(CELL, min_size=6, max_size=6), max_size=5),
    separator=st.sampled_from([";", ",", "\t"]),
)
def test_import_dry_run_with_random_rows(app_ctx, kind, columns, rows, separator):
    """A whole import check (dry run) with random columns and cells: a report or ImportFileError."""
    from mailer.extensions import db
    from mailer.services.party_import import run_import

    text = (
        separator.join(columns)
        + "\n"
        + "\n".join(
            separator.join(
                c.replace(separator, " ").replace("\n", " ").replace("\r", " ").replace('"', "")
                for c in row[: len(columns)]
            )
            for row in rows
        )
    )
    try:
        report = run_import(kind, text.encode("utf-8"), "prova.csv", clearance=3, dry_run=True)
    except ImportFileError as exc:
        assert str(exc).strip() and not PYTHON_NOISE.search(str(exc)), str(exc)
    else:
        for error in getattr(report, "errors", []):
            assert not PYTHON_NOISE.search(str(error)), str(error)
    finally:
        db.session.rollback()


# ---------------------------------------------------------------- PEC receipts and bounces


@st.composite
def emailish(draw) -> bytes:
    """A message with receipt/bounce-like headers and parts, mostly wrong."""
    headers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "From",
                        "To",
                        "Subject",
                        "Date",
                        "Message-ID",
                        "X-Ricevuta",
                        "X-Riferimento-Message-ID",
                        "X-Trasporto",
                        "Content-Type",
                        "MIME-Version",
                        "Content-Transfer-Encoding",
                        "Return-Path",
                    ]
                ),
                st.one_of(
                    st.text(max_size=40).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
                    st.sampled_from(
                        [
                            "accettazione",
                            "avvenuta-consegna",
                            "errore-consegna",
                            "multipart/report; report-type=delivery-status; boundary=b",
                            "multipart/mixed; boundary=b",
                            "application/xml",
                            "base64",
                            "<x@y>",
                            "posta-certificata@pec.it",
                            "MAILER-DAEMON@example.com",
                            "=?utf-8?b?w6g=?=",
                            "=?x?q?bad",
                        ]
                    ),
                ),
            ),
            max_size=8,
        )
    )
    body = draw(
        st.one_of(
            st.text(max_size=300),
            st.sampled_from(
                [
                    "--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.it\r\nAction: failed\r\n"
                    "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 no\r\n--b--",
                    '--b\r\nContent-Type: application/xml; name=daticert.xml\r\n\r\n<postacert tipo="avvenuta-consegna">'
                    "<dati><msgid>&lt;x@y&gt;</msgid><data><giorno>32/13/2026</giorno></data></dati></postacert>\r\n--b--",
                    "--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <z@w>\r\n\r\nciao\r\n--b--",
                    "The following address(es) failed:\r\n  a@b.it\r\n    550 5.1.1 unknown",
                    '<!DOCTYPE a [<!ENTITY x "y">]><postacert/>',
                ]
            ),
        )
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n" + body).encode("utf-8", "surrogateescape")


def _read_safely(raw: bytes) -> None:
    """read_message promises never to raise; whatever it says is a list of strings."""
    result = read_message(raw, check_signature=False)
    assert isinstance(result.problems, list)


@BOUNDED
@given(raw=st.binary(max_size=1500))
def test_inbound_arbitrary_bytes(raw):
    """Any bytes: a classified message, never an exception."""
    _read_safely(raw)


@BOUNDED
@given(raw=emailish())
def test_inbound_receipt_like_messages(raw):
    """Receipt- and bounce-looking messages with wrong headers, dates, XML and parts."""
    _read_safely(raw)


@pytest.fixture(scope="module")
def pec_samples():
    """The real PEC receipts, or skip when absent."""
    from tests.conftest import SAMPLES

    folder = Path(SAMPLES) / "pec"
    files = (
        sorted(p for p in folder.glob("*") if p.suffix in (".eml", ".txt") and p.name != "SOURCES.md")
        if folder.is_dir()
        else []
    )
    if not files:
        pytest.skip("campioni PEC assenti")
    return [p.read_bytes() for p in files]


@BOUNDED
@given(data=st.data())
def test_inbound_sample_mutations(samples_dir, pec_samples, data):
    """Real PEC receipts cut, repeated, truncated or with a byte changed."""
    raw = data.draw(st.sampled_from(pec_samples), label="sample")
    a = data.draw(st.integers(0, len(raw) - 1), label="a")
    b = data.draw(st.integers(a, min(len(raw), a + 300)), label="b")
    kind = data.draw(st.sampled_from(["cut", "repeat", "byte", "truncate"]), label="kind")
    if kind == "cut":
        raw = raw[:a] + raw[b:]
    elif kind == "repeat":
        raw = raw[:b] + raw[a:b] + raw[b:]
    elif kind == "byte":
        raw = raw[:a] + bytes([data.draw(st.integers(0, 255), label="byte")]) + raw[a + 1 :]
    else:
        raw = raw[:a]
    _read_safely(raw)


# ---------------------------------------------------------------- templates

JINJA_BITS = st.sampled_from(
    [
        "{{ ",
        " }}",
        "{% ",
        " %}",
        "{# ",
        " #}",
        "documento.numero",
        "contatto.nome",
        "azienda.ragione_sociale",
        "|",
        "upper",
        "it_money",
        "for d in documenti",
        "endfor",
        "if",
        "endif",
        "else",
        "__class__",
        "self",
        "cycler",
        "range(10**9)",
        "'x' * 10**8",
        "lipsum",
        "(",
        ")",
        "[",
        "]",
        ".",
        "0",
        "<b>",
        "</b>",
        "<script>",
        "\n",
    ]
)


@BOUNDED
@given(
    subject=st.lists(JINJA_BITS | st.text(max_size=5), max_size=12).map("".join),
    html=st.lists(JINJA_BITS | st.text(max_size=5), max_size=20).map("".join),
    text=st.lists(JINJA_BITS | st.text(max_size=5), max_size=12).map("".join),
)
def test_template_validation_and_preview(app_ctx, subject, html, text):
    """validate_template never raises; render_draft (the live preview) never raises either and reports errors
    with a field; a template that validates renders on the sample document."""
    errors = validate_template(subject, html, text, "FATTURA")
    assert all(e.field in ("subject", "body_html", "body_text") and str(e).strip() for e in errors)
    mail, preview_errors = render_draft(subject, html, text, sample_context("FATTURA"))
    assert (mail is None) == bool(preview_errors)
    for error in preview_errors:
        assert not PYTHON_NOISE.search(str(error)), str(error)
    if not errors:
        assume(subject.strip())
        assert mail is not None, [str(e) for e in preview_errors]
