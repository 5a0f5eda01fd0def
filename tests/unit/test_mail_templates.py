"""Sandboxed e-mail templates: escapes refused, output and loops bounded, errors at their line, Italian formats."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError

from mailer.services import mail_templates as svc
from mailer.services.mail_template_defaults import DEFAULT_TEMPLATES


def errors_of(html: str, subject: str = "Oggetto", text: str = "") -> list[svc.TemplateError]:
    """Validation errors of a body."""
    return svc.validate_template(subject, html, text)


def messages(errors) -> str:
    """All messages joined, for assertions."""
    return " | ".join(str(e) for e in errors)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ documento['__class__'] }}",
        "{{ documento.numero.__class__.__base__ }}",
        "{{ documento|attr('__class__') }}",
        "{{ self.__init__.__globals__ }}",
        "{{ config.items() }}",
        "{{ request.environ }}",
        "{{ documento.numero.format(documento) }}",
        "{{ documento.numero.center(100000000) }}",
    ],
)
def test_sandbox_escapes_are_refused(source):
    """Attribute walking to Python internals, leaked globals and unsafe methods never validate."""
    errors = errors_of(f"<p>riga uno</p>\n{source}")
    assert errors, source
    assert all(e.line == 2 for e in errors if e.line)


def test_sandbox_blocks_internals_even_without_the_static_check():
    """The runtime sandbox refuses underscore attributes too (defence in depth)."""
    template = svc._ENVS["html"].from_string("{{ ''.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        template.render()
    template = svc._ENVS["html"].from_string("{{ 'x'.format }}")
    with pytest.raises(SecurityError):
        template.render()


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("{% include 'base.html' %}", "include"),
        ("{% import 'x.html' as x %}", "import"),
        ("{% from 'x.html' import y %}", "import"),
        ("{% extends 'base.html' %}", "extends"),
        ("{% set a = 'x' %}{{ a }}", "set"),
        ("{% set a %}x{% endset %}", "set"),
        ("{% with a = 1 %}{{ a }}{% endwith %}", "with"),
        ("{% macro m() %}x{% endmacro %}", "macro"),
        ("{% autoescape false %}{{ contatto.nome }}{% endautoescape %}", "autoescape"),
        ("{% for d in documenti recursive %}{{ loop(d.righe) }}{% endfor %}", "ricorsivi"),
    ],
)
def test_forbidden_tags_are_reported(source, fragment):
    """No file access, no variables that could grow without bound, no autoescape switch."""
    text = messages(errors_of(source))
    assert fragment in text


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(19) %}{{ 'x' * 10000 }}{% endfor %}{% endfor %}",
        "{{ range(10000000)|list }}",
        "{{ 'x' * 1000000000 }}",
        "{{ [1] * 1000000000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ 10 ** 1000 ** 1000 }}",
        "{% for a in range(50) %}{% for b in range(50) %}{% for c in range(50) %}{% for d in range(50) %}x"
        "{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_huge_loops_and_outputs_are_bounded(source):
    """Loops, repetition and output are bounded: the template is refused quickly, never hangs."""
    errors = errors_of(source)
    assert errors
    assert any(word in messages(errors) for word in ("Limite", "non consentit", "annidati", "troppo"))


def test_output_bound_at_render_time():
    """Even a validated template cannot produce more than MAX_OUTPUT_CHARS for a huge context."""
    context = svc.sample_context()
    context["contatto"] = {**context["contatto"], "nome": "x" * (svc.MAX_OUTPUT_CHARS + 1)}
    with pytest.raises(svc.TemplateLimitError):
        svc.render_source("body_html", "{{ contatto.nome }}", context)


def test_unknown_placeholder_is_reported_at_its_line_with_a_suggestion():
    """A typo in a placeholder is found at save time with its line and the likely name."""
    errors = errors_of("<p>Gentile cliente,</p>\n<p>ecco</p>\n<p>{{ documento.numerro }}</p>")
    assert len(errors) == 1
    assert errors[0].field == "body_html" and errors[0].line == 3
    assert "documento.numerro" in errors[0].message and "documento.numero" in errors[0].message


def test_unknown_top_level_name_and_loop_variables():
    """Loop variables follow the item schema; unknown names outside it are errors."""
    ok = "{% for d in documenti %}{{ d.numero }} {{ loop.index }}{% for s in d.scadenze %}{{ s.importo }}{% endfor %}{% endfor %}"
    assert errors_of(ok) == []
    errors = errors_of("{% for d in documenti %}\n{{ d.numeroo }}\n{% endfor %}\n{{ cliente.nome }}")
    assert [(e.line, "numeroo" in e.message or "cliente" in e.message) for e in errors] == [
        (2, True),
        (4, True),
    ]


def test_syntax_error_reports_its_line_in_italian():
    """A broken tag is reported at its line, in Italian."""
    errors = errors_of("<p>uno</p>\n<p>due</p>\n{% if contatto.nome %}\n<p>tre</p>")
    assert len(errors) == 1 and errors[0].line == 4
    assert "sintassi" in errors[0].message and "manca {% endif %}" in errors[0].message
    errors = errors_of("<p>uno</p>\n{{ documento.numero | pippo }}")
    assert errors[0].line == 2 and "filtro «pippo» non disponibile" in errors[0].message


def test_subject_errors_have_their_field():
    """Subject problems are reported on the subject field."""
    errors = svc.validate_template("Fattura {{ documento.numer }}", "<p>x</p>", "")
    assert [e.field for e in errors] == ["subject"]
    assert svc.validate_template("", "<p>x</p>", "")[0].field == "subject"
    assert svc.validate_template("Fattura", "", "")[0].field == "body_html"


def test_template_that_fails_when_data_is_missing_is_refused():
    """Indexing a list that can be empty would fail at send time: refused at save time."""
    errors = errors_of("{{ documento.scadenze[0].data|it_date }}")
    assert errors and "mancano dati" in errors[0].message
    assert errors_of("{% if documento.scadenze %}{{ documento.scadenze[0].data|it_date }}{% endif %}") == []


def test_italian_formats():
    """Dates dd/mm/yyyy, amounts 1.234,56 €, numbers with Italian separators."""
    context = svc.sample_context()
    out = svc.render_source(
        "body_html",
        "{{ documento.data|it_date }} {{ documento.totale|it_money }} "
        "{{ 1234567.891|it_number }} {{ documento.righe[0].quantita|it_number(3) }}",
        context,
    )
    assert out == "31/03/2026 1.830,00 € 1.234.567,89 10,000"


def test_html_is_escaped_but_text_and_subject_are_not():
    """Data from the ERP cannot inject HTML into the HTML body; the plain text keeps it as is."""
    context = svc.sample_context()
    context["anagrafica"] = {**context["anagrafica"], "ragione_sociale": "Rossi & <b>Figli</b>"}
    assert (
        svc.render_source("body_html", "{{ anagrafica.ragione_sociale }}", context)
        == "Rossi &amp; &lt;b&gt;Figli&lt;/b&gt;"
    )
    assert (
        svc.render_source("body_text", "{{ anagrafica.ragione_sociale }}", context) == "Rossi & <b>Figli</b>"
    )


@pytest.mark.parametrize("key", sorted(DEFAULT_TEMPLATES))
def test_default_templates_validate(key):
    """All 24 default texts pass the checks (no promotion, no failure when data is missing)."""
    subject, html = DEFAULT_TEMPLATES[key]
    assert svc.validate_template(subject, html, "", key[0]) == []


def test_defaults_cover_every_type_in_both_languages():
    """Italian and English defaults for the 12 document types."""
    from mailer.reference import DOCUMENT_TYPE_CODES

    assert set(DEFAULT_TEMPLATES) == {(c, lang) for c in DOCUMENT_TYPE_CODES for lang in ("it", "en")}


def test_promotional_content_is_refused_in_transactional_types():
    """An invoice e-mail cannot carry a promotion (heuristic on common words)."""
    errors = svc.validate_template(
        "Fattura", "<p>Fattura</p>\n<p>Approfitta della promozione di marzo!</p>", "", "FATTURA"
    )
    assert errors and errors[0].line == 2 and "promozionale" in errors[0].message


def test_placeholder_rows_document_nested_lists():
    """The placeholder list shown on the editor includes nested list items."""
    paths = dict(svc.placeholder_rows())
    for path in (
        "contatto.nome",
        "documento.numero",
        "documento.partite_aperte[].residuo",
        "documento.partite_scadute",
        "documento.partite_aperte[].scadenza",
        "documenti",
        "utente.nome",
        "azienda.iban",
    ):
        assert path in paths


def test_plain_text_is_derived_from_html():
    """The plain-text body is derived from the HTML when left empty."""
    text = svc._html_to_text("<p>Gentile <strong>Maria</strong>,</p><p>in allegato la fattura.</p>")
    assert "Gentile Maria," in text and "in allegato la fattura." in text and "<" not in text


JINJA_ALPHABET = st.sampled_from(
    [
        *"{}%#()[]|.,'\"_-+*/~=<> \n\tabcdefinorstu019",
        "{{",
        "}}",
        "{%",
        "%}",
        "documento",
        "contatto.nome",
        "for",
        "if",
        "endfor",
        "endif",
        "in",
        "range",
        "__class__",
        "loop",
        "|it_money",
        "set",
        "include",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JINJA_ALPHABET, max_size=40).map("".join), st.text(max_size=200))
def test_validator_never_raises(jinja_like, anything):
    """Whatever is typed, the validator answers with a list of errors, never an exception."""
    for source in (jinja_like, anything):
        result = svc.validate_template(source[:50], source, source)
        assert isinstance(result, list)
        assert all(isinstance(e, svc.TemplateError) and e.message for e in result)


@pytest.mark.parametrize(
    "source, named",
    [
        ("Gentile cliente {{ range }}", "range"),
        ("<p>{{ range | upper }}</p>", "range"),
        ("{% for r in documento.righe %}{{ loop }}{% endfor %}", "loop"),
        ("{{ documento.numero.upper }}", "documento.numero.upper"),
        ("{{ 'Fattura ' ~ range }}", "range"),
    ],
)
def test_printing_a_function_says_what_is_wrong(source, named):
    """Issue 14.14: {{ range }} printed «<function _bounded_range at 0x…>»; the checker and the preview
    now say, in Italian and at its line, that a function (or the loop helper) is not a value to print."""
    found = messages(errors_of(source))
    assert f"«{named}»" in found and "non un valore" in found, found
    assert "0x" not in found and "function" not in found
    mail, preview_errors = svc.render_draft("Oggetto", source, "", svc.sample_context("FATTURA"))
    assert mail is None and preview_errors and preview_errors[0].line == 1
    assert "non un valore" in str(preview_errors[0]) and "0x" not in str(preview_errors[0])


@pytest.mark.parametrize(
    "source",
    [
        "{{ documento.numero.upper() }}",
        "{% for n in range(1, 3) %}{{ n }}{% endfor %}",
        "{% for r in documento.righe %}{{ loop.index }}{% endfor %}",
    ],
)
def test_calling_functions_still_works(source):
    """Calling range() or a safe method, and loop.index, are values: nothing to report."""
    assert errors_of(source) == []


def test_a_function_reaching_the_output_at_render_time_is_explained():
    """Even past the static check (a value from the data that is callable), the render says what is wrong."""
    template, errors = svc._compile_checked("body_html", "{{ documento.numero }}")
    assert errors == []
    with pytest.raises(svc.TemplateOutputError) as info:
        svc._run(template, {"documento": {"numero": len}})
    assert "non un valore" in str(info.value) and "0x" not in str(info.value)
    error = svc._render_error("body_html", info.value, False)
    assert "non un valore" in str(error) and "TemplateOutputError" not in str(error)
