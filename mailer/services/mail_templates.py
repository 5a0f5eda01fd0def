"""E-mail templates per document type: sandboxed rendering, save-time validation, versions, context.

What the Batches area calls:

- ``build_context(documents, contact=None, party=None, user=None, account=None, language=None) -> dict``
- ``current_version(type_code, language) -> TemplateVersion`` (creates the default v1 when missing)
- ``snapshot_versions(type_codes) -> {"FATTURA": {"it": 12, "en": 13}, ...}`` for ``Batch.template_versions``
- ``render_for(type_code, language, context, version=None, account=None) -> RenderedMail``
- ``template_language(party) -> "it" | "en"``

Templates are Jinja run in an ``ImmutableSandboxedEnvironment`` with no loader (no include,
import, extends), a short list of filters, no ``set``/``macro``/``autoescape`` tags, a budget
of loop iterations and a bounded output. Placeholders are checked at save time against
``SCHEMA`` (unknown names are reported with their line) and the template is test-rendered
against a complete and a sparse sample, so it cannot fail later at send time.
"""

from __future__ import annotations

import contextvars
import difflib
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import html2text
from jinja2 import StrictUndefined, TemplateAssertionError, TemplateSyntaxError, Undefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import do_join, make_attrgetter, pass_eval_context
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape, soft_str

from .. import formatting
from ..extensions import db
from ..models import (
    TEMPLATE_LANGUAGES,
    Contact,
    Document,
    DocumentType,
    EmailTemplate,
    MailAccount,
    Party,
    TemplateVersion,
    User,
    utcnow,
)

# --- limits -------------------------------------------------------------------------------------

MAX_SOURCE_CHARS = 50_000  # per field, as typed by the admin
MAX_OUTPUT_CHARS = 200_000  # per rendered field
MAX_SUBJECT_CHARS = 300  # rendered subject (Delivery.subject holds 500)
MAX_LOOP_ITERATIONS = 20_000  # all loops of one render together
MAX_RANGE = 1_000  # range(n) in a template
MAX_SEQUENCE_PRODUCT = 10_000  # "ab" * n, [x] * n
MAX_LOOP_DEPTH = 3  # nested {% for %}
MAX_SIGNATURE_CHARS = 20_000

FIELD_NAMES = {"subject": "Oggetto", "body_html": "Corpo HTML", "body_text": "Testo semplice"}


class TemplateLimitError(Exception):
    """A render went over one of the bounds (output size, loop iterations)."""


class TemplateOutputError(Exception):
    """A {{ … }} would print something that is no value (a function, the loop helper) as Python's repr."""


@dataclass(frozen=True)
class TemplateError:
    """A problem found in a template: which field, which line (1-based, or None), what (Italian)."""

    field: str
    line: int | None
    message: str

    @property
    def field_label(self) -> str:
        """Italian name of the field."""
        return FIELD_NAMES.get(self.field, self.field)

    def __str__(self) -> str:
        where = f", riga {self.line}" if self.line else ""
        return f"{self.field_label}{where}: {self.message}"


class TemplateValidationError(ValueError):
    """Raised by save_version when the template has problems; `.errors` lists them."""

    def __init__(self, errors: list[TemplateError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RenderedMail:
    """A rendered e-mail: subject, HTML body and plain-text body (signature included), and its version."""

    subject: str
    html: str
    text: str
    version_id: int | None


# --- placeholders -------------------------------------------------------------------------------
# Leaves are descriptions (shown on the editor page and in the README); a one-item list describes
# the items of a list.

PARTITA = {
    "numero": "numero del documento della partita",
    "data": "data del documento (usa |it_date)",
    "scadenza": "data di scadenza (usa |it_date)",
    "importo": "importo originario (usa |it_money)",
    "pagato": "importo già pagato",
    "residuo": "importo ancora da pagare",
    "scaduta": "vero se la scadenza è precedente alla data del documento",
    "giorni_ritardo": "giorni di ritardo alla data del documento (0 se non scaduta)",
}
SCADENZA = {
    "data": "data della scadenza",
    "importo": "importo della rata",
    "modalita": "modalità di pagamento",
}
RIGA = {
    "codice": "codice articolo",
    "descrizione": "descrizione",
    "quantita": "quantità (usa |it_number(3))",
    "um": "unità di misura",
    "prezzo": "prezzo unitario",
    "importo": "importo della riga",
}
DOCUMENTO = {
    "tipo": "codice del tipo (FATTURA, DDT…)",
    "tipo_nome": "nome del tipo nella lingua del modello",
    "numero": "numero del documento",
    "anno": "anno",
    "data": "data del documento (usa |it_date)",
    "valuta": "valuta (EUR…); per gli importi: |it_money(documento.valuta)",
    "imponibile": "totale imponibile",
    "iva": "totale IVA",
    "totale": "totale del documento",
    "da_pagare": "importo ancora da pagare (se il gestionale lo indica, altrimenti il totale)",
    "scadenze": [SCADENZA],
    "prima_scadenza": "data della prima scadenza (vuota se non ci sono scadenze)",
    "riferimento": "riferimento dal gestionale (extra.reference, altrimenti i documenti collegati: ordine, DDT…)",
    "protocollo": "protocollo telematico della dichiarazione d'intento (extra.protocol)",
    "plafond": "importo massimo della dichiarazione d'intento (extra.ceiling)",
    "titolo": "titolo del documento generico (extra.title)",
    "valida_fino": "data di validità dell'offerta (extra.valid_until)",
    "righe": [RIGA],
    "partite_aperte": [PARTITA],
    "saldo_aperto": "saldo delle partite aperte (estratto conto)",
    "partite_scadute": [PARTITA],
    "totale_scaduto": "totale delle partite scadute (sollecito)",
    "partite_pagate": [PARTITA],
}
SCHEMA: dict[str, Any] = {
    "azienda": {
        "ragione_sociale": "ragione sociale della nostra azienda",
        "indirizzo": "indirizzo",
        "cap": "CAP",
        "citta": "città",
        "provincia": "provincia",
        "piva": "partita IVA",
        "codice_fiscale": "codice fiscale",
        "telefono": "telefono",
        "email": "e-mail",
        "sito": "sito web",
        "iban": "IBAN per i pagamenti",
    },
    "anagrafica": {
        "codice": "codice cliente/fornitore nel gestionale",
        "ragione_sociale": "ragione sociale",
        "piva": "partita IVA",
        "codice_fiscale": "codice fiscale",
        "indirizzo": "indirizzo",
        "cap": "CAP",
        "citta": "città",
        "provincia": "provincia",
        "nazione": "nazione (IT…)",
        "cliente": "vero se è un cliente",
        "fornitore": "vero se è un fornitore",
    },
    "contatto": {
        "nome": "nome del contatto (può essere vuoto: usa {% if contatto.nome %})",
        "email": "indirizzo e-mail",
        "funzione": "funzione (Amministrazione, Logistica…)",
        "telefono": "telefono",
    },
    "documento": DOCUMENTO,
    "documenti": [DOCUMENTO],
    "numero_documenti": "quanti documenti sono in questa e-mail (più di uno se raggruppati)",
    "totale_documenti": "somma dei totali dei documenti",
    "utente": {"nome": "nome di chi prepara l'invio", "email": "sua e-mail"},
    "mittente": {
        "nome": "nome dell'account di invio",
        "email": "indirizzo del mittente",
        "pec": "vero se PEC",
    },
    "oggi": "data di oggi",
}

# Document.extra keys read by build_context (set by the intake from the ERP data):
#   extra["open_items"]    ESTRATTO_CONTO: [{"number", "date", "due_date", "amount", "paid", "balance"}]
#   extra["overdue_items"] INSOLUTO: same shape
#   extra["paid_items"]    AVVISO_BONIFICO: same shape (documents paid by the transfer)
#   extra["open_balance"], extra["overdue_total"]: optional totals (default: sum of "balance")
#     (an item may carry "debit"/"credit" instead of "amount", and "days_overdue" to override the days late)
#   extra["reference"] (else extra["references"] = [{"kind", "number", "date"}] from FatturaPA),
#   extra["title"], extra["valid_until"], extra["protocol"], extra["ceiling"]: free text / ISO date / amount
# dates are ISO "YYYY-MM-DD", amounts numbers or decimal strings ("1234.50").
EXTRA_ITEM_KEYS = ("number", "date", "due_date", "amount", "paid", "balance")


def placeholder_rows(
    schema: dict | None = None, prefix: str = "", _seen: dict | None = None
) -> list[tuple[str, str]]:
    """The documented placeholders as (path, description) rows; list items as `name[].field`.

    A structure already listed (documenti = documento, the three kinds of partite) is referred to, not repeated."""
    seen = {} if _seen is None else _seen
    rows: list[tuple[str, str]] = []
    for key, value in (schema or SCHEMA).items():
        path = f"{prefix}{key}"
        inner = value[0] if isinstance(value, list) else value
        if isinstance(value, list):
            if id(inner) in seen:
                rows.append((path, f"elenco; ogni elemento ha gli stessi campi di {seen[id(inner)]}"))
                continue
            rows.append((path, "elenco: {% for x in " + path + " %}…{% endfor %}"))
            seen[id(inner)] = path + "[]"
            rows.extend(placeholder_rows(inner, f"{path}[].", seen))
        elif isinstance(value, dict):
            if id(inner) in seen:
                rows.append((path, f"stessi campi di {seen[id(inner)]}"))
                continue
            seen[id(inner)] = path
            rows.extend(placeholder_rows(value, path + ".", seen))
        else:
            rows.append((path, value))
    return rows


PLACEHOLDER_GROUPS = [
    ("contatto", "Destinatario"),
    ("anagrafica", "Cliente / fornitore"),
    ("documento", "Documento"),
    ("azienda", "La nostra azienda"),
    ("altro", "Altro"),
]


def placeholder_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """The placeholder rows grouped by top-level object, for the editor page."""
    groups: dict[str, list[tuple[str, str]]] = {key: [] for key, _ in PLACEHOLDER_GROUPS}
    for path, description in placeholder_rows():
        top = path.split(".")[0].split("[")[0]
        groups[top if top in groups else "altro"].append((path, description))
    return [(title, groups[key]) for key, title in PLACEHOLDER_GROUPS]


# --- the sandbox --------------------------------------------------------------------------------

SAFE_FILTERS = {
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "groupby",
    "int",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "round",
    "select",
    "selectattr",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "wordcount",
}
SAFE_METHODS = {
    "upper",
    "lower",
    "title",
    "capitalize",
    "strip",
    "lstrip",
    "rstrip",
    "startswith",
    "endswith",
    "split",
    "isdigit",
    "items",
    "keys",
    "values",
    "get",
    "cycle",
    "changed",
}
FORBIDDEN_NODES: dict[type, str] = {
    nodes.Extends: "{% extends %} non è consentito: il modello non può leggere altri file",
    nodes.Include: "{% include %} non è consentito: il modello non può leggere altri file",
    nodes.Import: "{% import %} non è consentito: il modello non può leggere altri file",
    nodes.FromImport: "{% from … import %} non è consentito: il modello non può leggere altri file",
    nodes.Macro: "Le macro non sono consentite",
    nodes.CallBlock: "{% call %} non è consentito",
    nodes.Assign: "{% set %} non è consentito: usa direttamente i segnaposto",
    nodes.AssignBlock: "{% set %} non è consentito: usa direttamente i segnaposto",
    nodes.With: "{% with %} non è consentito: usa direttamente i segnaposto",
    nodes.ScopedEvalContextModifier: "{% autoescape %} non è consentito",
    nodes.EvalContextModifier: "{% autoescape %} non è consentito",
}

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_loop_budget")


def _bounded_iter(iterable):
    """Wraps the iterable of every {% for %}: counts iterations against the render's budget."""
    counter = _budget.get(None)
    for item in iterable:
        if counter is not None:
            counter[0] += 1
            if counter[0] > MAX_LOOP_ITERATIONS:
                raise TemplateLimitError(f"troppe ripetizioni nei cicli (massimo {MAX_LOOP_ITERATIONS})")
        yield item


def _bounded_range(*args):
    """range() limited to MAX_RANGE items."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateLimitError(f"range() troppo ampio (massimo {MAX_RANGE} elementi)")
    return rng


def _size(value) -> int | None:
    """Length of a sequence operand, None for numbers."""
    if isinstance(value, (str, bytes, list, tuple)):
        return len(value)
    return None


def _text_size(value, budget: int = MAX_OUTPUT_CHARS) -> int:
    """About how many characters str(value) has, without building it; stops counting past `budget`.

    Lists of references to one long string cost nothing to hold but gigabytes to print: every
    place where a template turns values into text (output, ~, join, string) asks this first.
    """
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = 2
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            total += 2 + _text_size(item, budget - total)
            if total > budget:
                break
        return total
    if isinstance(value, (int, float, Decimal, bool)) or value is None:
        return 24 if not isinstance(value, int) or abs(value) < 10**20 else len(str(value))
    return len(str(value))


def _check_text_size(*values, extra: int = 0) -> None:
    """Refuse to turn into text what would exceed the output bound (`extra`: characters added around)."""
    total = extra
    if total > MAX_OUTPUT_CHARS:
        raise TemplateLimitError(f"testo generato troppo lungo (massimo {MAX_OUTPUT_CHARS} caratteri)")
    for value in values:
        total += _text_size(value, MAX_OUTPUT_CHARS - total)
        if total > MAX_OUTPUT_CHARS:
            raise TemplateLimitError(f"testo generato troppo lungo (massimo {MAX_OUTPUT_CHARS} caratteri)")


def _finalize(value):
    """Every {{ … }} passes here before becoming text: no repr of a function («<function … at 0x…>»)."""
    # (an Undefined is callable too, but raises its own error, e.g. the sandbox's, when printed)
    if (callable(value) and not isinstance(value, Undefined)) or isinstance(value, LoopContext):
        raise TemplateOutputError(
            "un segnaposto stampa una funzione, non un valore: aggiungi le parentesi "
            "(es. testo.upper()) o scegli il dato giusto"
        )
    _check_text_size(value)
    return value


def _bounded_concat(values: tuple, autoescape: bool):
    """The ~ operator, measured before it is built."""
    _check_text_size(*values)
    return markup_join(values) if autoescape else str_join(values)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ~ to the measured concatenation above."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        """environment.bounded_concat((a, b, …), autoescape)."""
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx.autoescape)")


@pass_eval_context
def _bounded_join(eval_ctx, value, d: str = "", attribute=None):
    """The join filter, measured before it is built (nested joins multiply their sizes)."""
    items = list(value)
    if attribute is not None:
        items = [make_attrgetter(eval_ctx.environment, attribute)(item) for item in items]
    _check_text_size(*items, extra=_text_size(d) * max(len(items) - 1, 0))
    return do_join(eval_ctx, items, d)


def _bounded_string(value):
    """The string filter, measured first."""
    _check_text_size(value)
    return soft_str(value)


class RecapitoSandbox(ImmutableSandboxedEnvironment):
    """Sandbox with bounded arithmetic, no %-formatting and only whitelisted methods."""

    intercepted_binops = frozenset({"*", "**", "%", "//"})
    code_generator_class = _BoundedCodeGenerator
    bounded_concat = staticmethod(_bounded_concat)

    def call_binop(self, context, operator, left, right):
        """Refuse operations that could allocate without bound."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                n = _size(seq)
                if (
                    n is not None
                    and isinstance(times, int)
                    and (
                        n * max(times, 0) > MAX_SEQUENCE_PRODUCT
                        or _text_size(seq, MAX_OUTPUT_CHARS) * max(times, 0) > MAX_OUTPUT_CHARS
                    )
                ):
                    raise SecurityError("ripetizione troppo lunga")
        elif operator == "**":
            if (
                not isinstance(left, (int, float, Decimal))
                or not isinstance(right, (int, float, Decimal))
                or abs(right) > 100
                or abs(left) > 10**12
            ):
                raise SecurityError("potenza non consentita")
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("la formattazione con % non è consentita")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value):
        """No str.format / format_map at all: a width like {:>999999999} would allocate without bound."""
        return

    def is_safe_attribute(self, obj, attr, value):
        """Underscore attributes are refused by the sandbox; of the methods, only harmless ones pass."""
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return not callable(value) or attr in SAFE_METHODS


def _make_env(autoescape: bool) -> RecapitoSandbox:
    """A sandbox with our filters, no loader, strict undefined."""
    env = RecapitoSandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        loader=None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_finalize,
    )
    env.filters = {name: f for name, f in env.filters.items() if name in SAFE_FILTERS}
    env.filters.update(join=_bounded_join, string=_bounded_string)
    env.filters.update(
        it_date=formatting.it_date,
        it_datetime=formatting.it_datetime,
        it_money=formatting.it_money,
        it_number=formatting.it_number,
    )
    env.globals = {"range": _bounded_range, "_recapito_iter": _bounded_iter}
    return env


_ENVS = {"html": _make_env(True), "text": _make_env(False)}
GLOBAL_NAMES = {"range", "loop"}


def _field_kind(field: str) -> str:
    """HTML fields autoescape, the subject and plain text do not."""
    return "html" if field == "body_html" else "text"


# --- static checks ------------------------------------------------------------------------------

ANY = object()  # schema of something we cannot follow (loop variable, method result…)


def _dotted(node: nodes.Node) -> str:
    """Readable path of an expression: documento.numero, d.scadenze[0]…"""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_dotted(node.node)}[{node.arg.value!r}]"
    return "…"


class _Checker:
    """Walks a parsed template: forbidden tags, unsafe attributes, unknown placeholders (with lines)."""

    def __init__(self, field: str):
        self.field = field
        self.errors: list[TemplateError] = []

    def error(self, node: nodes.Node, message: str) -> None:
        """Record a problem at the node's line."""
        self.errors.append(TemplateError(self.field, getattr(node, "lineno", None), message))

    def statement(self, node: nodes.Node, scope: dict, depth: int) -> None:
        """Check a statement (or the template) and its children."""
        for kind, message in FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                self.error(node, message)
                return
        if isinstance(node, nodes.For):
            self.loop(node, scope, depth)
            return
        if isinstance(node, nodes.Expr):
            self.expr(node, scope)
            return
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                self.printed(child, scope)
        for child in node.iter_child_nodes():
            self.statement(child, scope, depth)

    def printed(self, node: nodes.Node, scope: dict) -> None:
        """What {{ … }} prints must be a value: not range, the loop helper or a method without brackets."""
        if isinstance(node, nodes.Filter) and node.node is not None:
            self.printed(node.node, scope)
        elif isinstance(node, nodes.Concat):
            for part in node.nodes:
                self.printed(part, scope)
        elif isinstance(node, nodes.CondExpr):
            for part in (node.expr1, node.expr2):
                if part is not None:
                    self.printed(part, scope)
        elif isinstance(node, nodes.Name) and node.name == "range" and "range" not in scope:
            self.error(
                node,
                "«range» è una funzione, non un valore da stampare: usala in un ciclo, "
                "es. {% for n in range(1, 4) %}{{ n }}{% endfor %}",
            )
        elif isinstance(node, nodes.Name) and node.name == "loop":
            self.error(
                node,
                "«loop» è l'aiuto dei cicli, non un valore da stampare: usa loop.index, "
                "loop.first o loop.last",
            )
        elif isinstance(node, nodes.Getattr) and node.attr in SAFE_METHODS:
            self.error(
                node,
                f"«{_dotted(node)}» è una funzione, non un valore da stampare: aggiungi le "
                f"parentesi, es. {_dotted(node)}()",
            )

    def loop(self, node: nodes.For, scope: dict, depth: int) -> None:
        """A {% for %}: bind the target to the item schema; limit nesting; no recursive loops."""
        if node.recursive:
            self.error(node, "I cicli ricorsivi non sono consentiti")
        if depth + 1 > MAX_LOOP_DEPTH:
            self.error(node, f"Troppi cicli annidati (massimo {MAX_LOOP_DEPTH})")
        iter_schema = self.expr(node.iter, scope)
        item = iter_schema[0] if isinstance(iter_schema, list) else ANY
        inner = dict(scope)
        inner["loop"] = ANY
        if isinstance(node.target, nodes.Name):
            inner[node.target.name] = item
        else:
            for name_node in node.target.find_all(nodes.Name):
                inner[name_node.name] = ANY
        if node.test is not None:
            self.expr(node.test, inner)
        for child in node.body:
            self.statement(child, inner, depth + 1)
        for child in node.else_:
            self.statement(child, scope, depth)

    def member(self, node: nodes.Node, base, name: str):
        """Schema of base.name, reporting unknown names."""
        if name.startswith("_"):
            self.error(node, f"Accesso non consentito a «{name}»")
            return ANY
        if base is ANY:
            return ANY
        if isinstance(base, dict):
            if name in base:
                return base[name]
            hint = difflib.get_close_matches(name, list(base), n=1)
            suggestion = f" (forse «{_dotted(node)[: -len(name)]}{hint[0]}»?)" if hint else ""
            self.error(node, f"Segnaposto sconosciuto «{_dotted(node)}»{suggestion}")
            return ANY
        if isinstance(base, list):
            self.error(node, f"«{_dotted(node)}»: l'elemento è un elenco, usa {{% for … %}}")
            return ANY
        if name not in SAFE_METHODS:
            self.error(node, f"«{_dotted(node)}»: «{name}» non esiste o non è consentito")
        return ANY

    def expr(self, node: nodes.Node, scope: dict):
        """Check an expression and return its schema (dict, [item], description string or ANY)."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name in GLOBAL_NAMES:
                return ANY
            hint = difflib.get_close_matches(node.name, list(scope), n=1)
            suggestion = f" (forse «{hint[0]}»?)" if hint else ""
            self.error(node, f"Segnaposto sconosciuto «{node.name}»{suggestion}")
            return ANY
        if isinstance(node, nodes.Getattr):
            return self.member(node, self.expr(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.expr(node.node, scope)
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                return self.member(node, base, node.arg.value)
            self.expr(node.arg, scope)
            return base[0] if isinstance(base, list) else ANY
        if isinstance(node, nodes.Filter):
            base = self.expr(node.node, scope) if node.node is not None else ANY
            self._children(node, scope, skip=node.node)
            if node.name in ("first", "last") and isinstance(base, list):
                return base[0]
            if node.name in (
                "default",
                "d",
                "sort",
                "reverse",
                "list",
                "unique",
                "select",
                "reject",
                "selectattr",
                "rejectattr",
            ):
                return base
            return ANY
        self._children(node, scope)
        return ANY

    def _children(self, node: nodes.Node, scope: dict, skip: nodes.Node | None = None) -> None:
        """Check the sub-expressions of a node."""
        for child in node.iter_child_nodes():
            if child is not skip:
                self.expr(child, scope)


def _wrap_loops(tree: nodes.Template) -> None:
    """Make every {% for %} iterate through the iteration budget."""
    for loop in tree.find_all(nodes.For):
        wrapped = nodes.Call(nodes.Name("_recapito_iter", "load"), [loop.iter], [], None, None)
        wrapped.set_lineno(loop.iter.lineno)
        loop.iter = wrapped


_SYNTAX_TRANSLATIONS = [
    (
        r"Unexpected end of template\..*innermost block that needs to be closed is '(\w+)'.*",
        r"il modello finisce senza chiudere il blocco «\1» (manca {% end\1 %})",
    ),
    (
        r"(?i:unexpected end of template).*",
        "il modello finisce prima di chiudere un blocco (manca un {% end… %})",
    ),
    (r"Encountered unknown tag '(\w+)'.*", r"tag sconosciuto «\1»"),
    (r"No filter named '(\w+)'.*", r"filtro «\1» non disponibile"),
    (r"No test named '(\w+)'.*", r"test «\1» non disponibile"),
    (r"unexpected '(.+)'", r"carattere inatteso «\1»"),
    (r"expected token '(.+)', got '(.+)'", r"atteso «\1», trovato «\2»"),
    (r"unexpected char '(.+)' at \d+", r"carattere non valido «\1»"),
    (r"Expected an expression, got '(.+)'", r"manca un'espressione (trovato «\1»)"),
    (r"unexpected '(.+)'.*", r"carattere inatteso «\1»"),
]


def _italian(message: str) -> str:
    """Italian text for the most common Jinja syntax messages (others keep the original words)."""
    for pattern, replacement in _SYNTAX_TRANSLATIONS:
        if re.fullmatch(pattern, message or "", flags=re.S):
            return re.sub(pattern, replacement, message, flags=re.S)
    return message or "errore"


def _compile_checked(field: str, source: str):
    """Parse, check and compile one field: (template or None, errors)."""
    env = _ENVS[_field_kind(field)]
    if len(source) > MAX_SOURCE_CHARS:
        return None, [
            TemplateError(field, None, f"Testo troppo lungo (massimo {MAX_SOURCE_CHARS} caratteri)")
        ]
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return None, [TemplateError(field, exc.lineno, "Errore di sintassi: " + _italian(exc.message or ""))]
    checker = _Checker(field)
    checker.statement(tree, dict(SCHEMA), 0)
    if checker.errors:
        return None, checker.errors
    _wrap_loops(tree)
    try:
        template = env.from_string(tree)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        return None, [TemplateError(field, exc.lineno, "Errore di sintassi: " + _italian(exc.message or ""))]
    return template, []


@lru_cache(maxsize=512)
def _compiled(field: str, source: str):
    """Compiled template of a saved field (validated sources only; cached)."""
    template, errors = _compile_checked(field, source)
    if errors:
        raise TemplateValidationError(errors)
    return template


def _template_line(exc: BaseException) -> int | None:
    """Line of the template where a render error happened (Jinja rewrites the traceback)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _run(template, context: dict, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Render with the loop budget and the output bound."""
    token = _budget.set([0])
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limit:
                raise TemplateLimitError(f"testo generato troppo lungo (massimo {limit} caratteri)")
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.reset(token)


def _render_error(field: str, exc: Exception, sparse: bool) -> TemplateError:
    """Explain, in Italian, why the test render failed."""
    line = _template_line(exc)
    if isinstance(exc, SecurityError):
        message = f"Operazione non consentita: {exc}"
    elif isinstance(exc, TemplateLimitError):
        message = f"Limite superato: {exc}"
    elif isinstance(exc, UndefinedError):
        message = f"Dato inesistente ({exc.message})"
    elif isinstance(exc, TemplateOutputError):
        message = str(exc)[:1].upper() + str(exc)[1:]
    else:
        message = f"Il modello non si può generare ({type(exc).__name__}: {exc})"
    if sparse and not isinstance(exc, (SecurityError, TemplateLimitError, TemplateOutputError)):
        message = (
            "Fallirebbe con un documento a cui mancano dati (senza contatto, scadenze o partite): "
            + message
            + ". Usa {% if … %} per i dati che possono mancare"
        )
    return TemplateError(field, line, message)


PROMOTIONAL_WORDS = [
    "promozione",
    "promozioni",
    "promo",
    "in offerta speciale",
    "offerta speciale",
    "offerta limitata",
    "sconto del",
    "codice sconto",
    "coupon",
    "newsletter",
    "saldi",
    "black friday",
    "approfitta",
    "iscriviti",
    "special offer",
    "discount code",
    "limited offer",
    "sale ends",
    "subscribe",
]


def _promotional(text: str) -> str | None:
    """The first promotional expression found in a text, or None (a heuristic, not a classifier)."""
    lowered = text.lower()
    for word in PROMOTIONAL_WORDS:
        if re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", lowered):
            return word
    return None


def validate_template(
    subject: str, html: str, text: str, type_code: str | None = None
) -> list[TemplateError]:
    """All problems of a template, with field and line; an empty list means it can be saved."""
    errors: list[TemplateError] = []
    fields = {"subject": subject or "", "body_html": html or "", "body_text": text or ""}
    if not fields["subject"].strip():
        errors.append(TemplateError("subject", None, "L'oggetto è obbligatorio"))
    if "\n" in fields["subject"].strip():
        errors.append(TemplateError("subject", None, "L'oggetto deve stare su una riga"))
    if not fields["body_html"].strip():
        errors.append(TemplateError("body_html", None, "Il corpo HTML è obbligatorio"))
    compiled = {}
    for field, source in fields.items():
        if not source.strip():
            continue
        template, field_errors = _compile_checked(field, source)
        errors.extend(field_errors)
        if template is not None:
            compiled[field] = template
    if type_code and not _is_commercial(type_code):
        for field, source in fields.items():
            word = _promotional(source)
            if word:
                line = next((i for i, row in enumerate(source.splitlines(), 1) if word in row.lower()), None)
                errors.append(
                    TemplateError(
                        field,
                        line,
                        f"Contenuto promozionale («{word}») non ammesso in un documento transazionale",
                    )
                )
    for sparse in (False, True):
        context = sample_context(type_code or "FATTURA", sparse=sparse)
        for field, template in compiled.items():
            if any(e.field == field for e in errors):
                continue
            try:
                output = _run(template, context)
            except Exception as exc:  # noqa: BLE001 — any failure is reported to the author, at its line
                errors.append(_render_error(field, exc, sparse))
                continue
            if field == "subject" and len(" ".join(output.split())) > MAX_SUBJECT_CHARS:
                errors.append(
                    TemplateError(
                        field, None, f"Oggetto troppo lungo (massimo {MAX_SUBJECT_CHARS} caratteri)"
                    )
                )
    return errors


def _is_commercial(type_code: str) -> bool:
    """True when the document type is commercial (promotion allowed); transactional types are not."""
    try:
        doc_type = db.session.get(DocumentType, type_code)
    except Exception:  # noqa: BLE001 — outside an app context (pure unit tests): treat as transactional
        return False
    return bool(doc_type and doc_type.commercial)


# --- context ------------------------------------------------------------------------------------


def _dec(value) -> Decimal | None:
    """Decimal from a number or decimal string; None when empty or invalid."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _day(value) -> date | None:
    """Date from a date or an ISO string; None when empty or invalid."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _items(raw, reference: date | None) -> list[dict]:
    """Open/overdue/paid items from Document.extra, as template dicts."""
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        amount = _dec(item.get("amount"))
        if amount is None and (item.get("debit") not in (None, "") or item.get("credit") not in (None, "")):
            amount = (_dec(item.get("debit")) or Decimal("0")) - (_dec(item.get("credit")) or Decimal("0"))
        paid = _dec(item.get("paid")) or Decimal("0")
        balance = _dec(item.get("balance"))
        if balance is None and amount is not None:
            balance = amount - paid
        due = _day(item.get("due_date"))
        late = (reference - due).days if (due and reference and due < reference) else 0
        if isinstance(item.get("days_overdue"), int):
            late = max(item["days_overdue"], 0)
        rows.append(
            {
                "numero": str(item.get("number") or ""),
                "data": _day(item.get("date")),
                "scadenza": due,
                "importo": amount,
                "pagato": paid,
                "residuo": balance,
                "scaduta": late > 0,
                "giorni_ritardo": late,
            }
        )
    return rows


def _sum(rows: list[dict], key: str) -> Decimal:
    """Sum of a decimal column."""
    return sum((r[key] or Decimal("0") for r in rows), Decimal("0"))


def _references(raw, language: str) -> str:
    """Linked documents (FatturaPA DatiOrdineAcquisto, DatiDDT…) as one short line: "Ordine n. 45 del 10/03/2026"."""
    parts = []
    for ref in (raw if isinstance(raw, list) else [])[:3]:
        if isinstance(ref, dict) and ref.get("number"):
            when = formatting.it_date(ref.get("date")) if ref.get("date") else ""
            joiner = (" no. ", " of ") if language == "en" else (" n. ", " del ")
            parts.append(
                f"{ref.get('kind') or ''}{joiner[0]}{ref['number']}{joiner[1] + when if when else ''}".strip()
            )
    return "; ".join(parts)


def document_context(doc: Document, language: str = "it") -> dict:
    """One document as the `documento` placeholder."""
    extra = doc.extra or {}
    scadenze = [
        {"data": _day(d.get("date")), "importo": _dec(d.get("amount")), "modalita": d.get("method") or ""}
        for d in (doc.due_dates or [])
        if isinstance(d, dict)
    ]
    dates = sorted(s["data"] for s in scadenze if s["data"])
    open_items = _items(extra.get("open_items"), doc.date)
    overdue = _items(extra.get("overdue_items"), doc.date)
    doc_type = doc.type
    return {
        "tipo": doc.type_code,
        "tipo_nome": (
            doc_type.name_en
            if language == "en" and doc_type and doc_type.name_en
            else (doc_type.name if doc_type else doc.type_code)
        ),
        "numero": doc.number,
        "anno": doc.year,
        "data": doc.date,
        "valuta": doc.currency or "EUR",
        "imponibile": doc.total_net,
        "iva": doc.total_vat,
        "totale": doc.total,
        "da_pagare": doc.open_amount if doc.open_amount is not None else doc.total,
        "scadenze": scadenze,
        "prima_scadenza": dates[0] if dates else None,
        "riferimento": str(extra.get("reference") or "") or _references(extra.get("references"), language),
        "protocollo": str(extra.get("protocol") or ""),
        "plafond": _dec(extra.get("ceiling")),
        "titolo": str(extra.get("title") or ""),
        "valida_fino": _day(extra.get("valid_until")),
        "righe": [
            {
                "codice": line.product_code,
                "descrizione": line.description,
                "quantita": line.quantity,
                "um": line.unit,
                "prezzo": line.unit_price,
                "importo": line.amount,
            }
            for line in doc.lines
        ],
        "partite_aperte": open_items,
        "saldo_aperto": _dec(extra.get("open_balance"))
        if extra.get("open_balance") not in (None, "")
        else _sum(open_items, "residuo"),
        "partite_scadute": overdue,
        "totale_scaduto": _dec(extra.get("overdue_total"))
        if extra.get("overdue_total") not in (None, "")
        else _sum(overdue, "residuo"),
        "partite_pagate": _items(extra.get("paid_items"), doc.date),
    }


def _company_context() -> dict:
    """Our company as the `azienda` placeholder."""
    from .reference import get_company

    c = get_company()
    return {
        "ragione_sociale": c.name,
        "indirizzo": c.address,
        "cap": c.zip_code,
        "citta": c.city,
        "provincia": c.province,
        "piva": c.vat_number,
        "codice_fiscale": c.tax_code,
        "telefono": c.phone,
        "email": c.email,
        "sito": c.website,
        "iban": c.iban,
    }


def party_context(party: Party) -> dict:
    """The `anagrafica` placeholders of a party (documents and campaigns alike)."""
    return {
        "codice": party.erp_code,
        "ragione_sociale": party.name,
        "piva": party.vat_number,
        "codice_fiscale": party.tax_code,
        "indirizzo": party.address,
        "cap": party.zip_code,
        "citta": party.city,
        "provincia": party.province,
        "nazione": party.country,
        "cliente": party.is_customer,
        "fornitore": party.is_supplier,
    }


def build_context(
    documents: Iterable[Document | int],
    contact: Contact | None = None,
    party: Party | None = None,
    user: User | None = None,
    account: MailAccount | None = None,
    language: str | None = None,
) -> dict:
    """The placeholder values for one e-mail (see SCHEMA); documents are rows or ids, in display order."""
    docs = [d if isinstance(d, Document) else db.session.get(Document, int(d)) for d in documents]
    docs = [d for d in docs if d is not None]
    if not docs:
        raise ValueError("build_context needs at least one document")
    party = party or docs[0].party
    language = language or template_language(party)
    doc_dicts = [document_context(d, language) for d in docs]
    return {
        "azienda": _company_context(),
        "anagrafica": party_context(party),
        "contatto": {
            "nome": contact.name if contact else "",
            "email": contact.email if contact else "",
            "funzione": contact.function.name if contact and contact.function else "",
            "telefono": contact.phone if contact else "",
        },
        "documento": doc_dicts[0],
        "documenti": doc_dicts,
        "numero_documenti": len(doc_dicts),
        "totale_documenti": sum((d["totale"] or Decimal("0") for d in doc_dicts), Decimal("0")),
        "utente": {
            "nome": (user.full_name or user.username) if user else "",
            "email": user.email if user else "",
        },
        "mittente": {
            "nome": (account.from_name or account.name) if account else "",
            "email": account.from_address if account else "",
            "pec": bool(account and account.is_pec),
            "account_id": account.id if account else None,
        },
        "oggi": utcnow().date(),
    }


def sample_context(type_code: str = "FATTURA", sparse: bool = False, language: str = "it") -> dict:
    """A made-up context with every placeholder (sparse: optional data missing), for checks and previews."""
    today = date(2026, 3, 31)
    item = {
        "numero": "2026/118",
        "data": date(2026, 1, 15),
        "scadenza": date(2026, 2, 28),
        "importo": Decimal("1830.00"),
        "pagato": Decimal("500.00"),
        "residuo": Decimal("1330.00"),
        "scaduta": True,
        "giorni_ritardo": 31,
    }
    items = (
        []
        if sparse
        else [
            item,
            {
                **item,
                "numero": "2026/131",
                "scadenza": date(2026, 3, 31),
                "pagato": Decimal("0"),
                "residuo": Decimal("1830.00"),
                "scaduta": False,
                "giorni_ritardo": 0,
            },
        ]
    )
    doc = {
        "tipo": type_code,
        "tipo_nome": type_code.replace("_", " ").title(),
        "numero": "2026/142",
        "anno": 2026,
        "data": today,
        "valuta": "EUR",
        "imponibile": Decimal("1500.00"),
        "iva": Decimal("330.00"),
        "totale": Decimal("1830.00"),
        "da_pagare": Decimal("1830.00"),
        "scadenze": []
        if sparse
        else [
            {"data": date(2026, 4, 30), "importo": Decimal("915.00"), "modalita": "RiBa"},
            {"data": date(2026, 5, 31), "importo": Decimal("915.00"), "modalita": "RiBa"},
        ],
        "prima_scadenza": None if sparse else date(2026, 4, 30),
        "riferimento": "" if sparse else "Vs. ordine n. 45 del 10/03/2026",
        "titolo": "" if sparse else "Listino 2026",
        "protocollo": "" if sparse else "26031712345678901-000001",
        "plafond": None if sparse else Decimal("150000.00"),
        "valida_fino": None if sparse else date(2026, 4, 30),
        "righe": []
        if sparse
        else [
            {
                "codice": "A100",
                "descrizione": "Articolo di esempio",
                "quantita": Decimal("10"),
                "um": "PZ",
                "prezzo": Decimal("150"),
                "importo": Decimal("1500.00"),
            }
        ],
        "partite_aperte": items,
        "saldo_aperto": _sum(items, "residuo"),
        "partite_scadute": items[:1],
        "totale_scaduto": _sum(items[:1], "residuo"),
        "partite_pagate": items,
    }
    docs = [doc] if sparse else [doc, {**doc, "numero": "2026/143"}]
    return {
        "azienda": {
            "ragione_sociale": "Esempio S.r.l.",
            "indirizzo": "Via Roma 1",
            "cap": "20100",
            "citta": "Milano",
            "provincia": "MI",
            "piva": "IT01234567890",
            "codice_fiscale": "01234567890",
            "telefono": "02 1234567",
            "email": "info@esempio.it",
            "sito": "www.esempio.it",
            "iban": "" if sparse else "IT60X0542811101000000123456",
        },
        "anagrafica": {
            "codice": "C0001",
            "ragione_sociale": "Cliente di Prova S.p.A.",
            "piva": "IT09876543210",
            "codice_fiscale": "",
            "indirizzo": "Via Verdi 2",
            "cap": "10100",
            "citta": "Torino",
            "provincia": "TO",
            "nazione": "IT",
            "cliente": True,
            "fornitore": False,
        },
        "contatto": {
            "nome": "" if sparse else "Maria Bianchi",
            "email": "amministrazione@cliente.example",
            "funzione": "" if sparse else "Amministrazione",
            "telefono": "",
        },
        "documento": doc,
        "documenti": docs,
        "numero_documenti": len(docs),
        "totale_documenti": sum((d["totale"] for d in docs), Decimal("0")),
        "utente": {"nome": "Mario Rossi", "email": "mario.rossi@esempio.it"},
        "mittente": {
            "nome": "Esempio S.r.l.",
            "email": "documenti@esempio.it",
            "pec": False,
            "account_id": None,
        },
        "oggi": today,
    }


def template_language(party: Party | None) -> str:
    """Template language for a party: Italian for Italian speakers, English for everyone else."""
    language = (getattr(party, "language", None) or "it").lower()
    return language if language in TEMPLATE_LANGUAGES else "en"


# --- versions -----------------------------------------------------------------------------------


def get_template(type_code: str, language: str, create: bool = True) -> EmailTemplate | None:
    """The template row of a type and language (created with its default version when missing)."""
    template = db.session.scalar(
        db.select(EmailTemplate).where(
            EmailTemplate.type_code == type_code, EmailTemplate.language == language
        )
    )
    if template is None and create:
        ensure_default_templates()
        template = db.session.scalar(
            db.select(EmailTemplate).where(
                EmailTemplate.type_code == type_code, EmailTemplate.language == language
            )
        )
    return template


def current_version(type_code: str, language: str) -> TemplateVersion:
    """The version new e-mails of this type and language use (the latest saved)."""
    if language not in TEMPLATE_LANGUAGES:
        language = "en"
    template = get_template(type_code, language)
    if template is None:
        raise LookupError(f"Nessun modello per il tipo {type_code}")
    return db.session.scalar(
        db.select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.number.desc())
        .limit(1)
    )


def snapshot_versions(type_codes: Iterable[str]) -> dict[str, dict[str, int]]:
    """Current version ids per type and language, to store in Batch.template_versions."""
    return {
        code: {lang: current_version(code, lang).id for lang in TEMPLATE_LANGUAGES} for code in type_codes
    }


def save_version(
    type_code: str,
    language: str,
    subject: str,
    body_html: str,
    body_text: str,
    user: User | None,
    note: str = "",
) -> TemplateVersion:
    """Validate and store a new version (the caller commits); raises TemplateValidationError."""
    if language not in TEMPLATE_LANGUAGES:
        raise ValueError(f"Lingua non gestita: {language}")
    subject = " ".join((subject or "").split())
    body_html = (body_html or "").replace("\r\n", "\n")
    body_text = (body_text or "").replace("\r\n", "\n")
    if not body_text.strip():
        body_text = ""
    errors = validate_template(subject, body_html, body_text, type_code)
    if errors:
        raise TemplateValidationError(errors)
    template = get_template(type_code, language)
    if template is None:
        raise LookupError(f"Tipo di documento sconosciuto: {type_code}")
    last = (
        db.session.scalar(
            db.select(db.func.max(TemplateVersion.number)).where(TemplateVersion.template_id == template.id)
        )
        or 0
    )
    version = TemplateVersion(
        template_id=template.id,
        number=last + 1,
        subject=subject,
        body_html=body_html,
        body_text=body_text,
        note=(note or "")[:200],
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(version)
    db.session.flush()
    from .audit import audit

    audit("template.save", version, type_code=type_code, language=language, number=version.number)
    return version


def ensure_default_templates() -> int:
    """Create version 1 of every missing template from the defaults (idempotent; the caller commits)."""
    from sqlalchemy.exc import IntegrityError

    from .mail_template_defaults import DEFAULT_TEMPLATES, fallback_template

    existing = {(t.type_code, t.language) for t in db.session.scalars(db.select(EmailTemplate))}
    created = 0
    for doc_type in db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)):
        for language in TEMPLATE_LANGUAGES:
            if (doc_type.code, language) in existing:
                continue
            subject, html = DEFAULT_TEMPLATES.get((doc_type.code, language)) or fallback_template(
                doc_type, language
            )
            try:
                with db.session.begin_nested():
                    template = EmailTemplate(type_code=doc_type.code, language=language)
                    db.session.add(template)
                    db.session.flush()
                    db.session.add(
                        TemplateVersion(
                            template_id=template.id,
                            number=1,
                            subject=subject,
                            body_html=html,
                            body_text="",
                            note="Testo predefinito",
                        )
                    )
                    db.session.flush()
                created += 1
            except IntegrityError:  # another process created it meanwhile
                continue
    return created


# --- rendering ----------------------------------------------------------------------------------


def _html_to_text(html: str) -> str:
    """Plain text from HTML (links kept, no line wrapping)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.pad_tables = True
    return converter.handle(html).strip() + "\n"


def default_signature_html() -> str:
    """Signature used when the sending account has none: company name and contacts."""
    c = _company_context()
    parts = [f"<strong>{escape(c['ragione_sociale'])}</strong>"]
    address = " ".join(
        x
        for x in [
            c["indirizzo"],
            "-" if c["indirizzo"] else "",
            c["cap"],
            c["citta"],
            f"({c['provincia']})" if c["provincia"] else "",
        ]
        if x
    )
    for value in (
        address,
        f"P.IVA {c['piva']}" if c["piva"] else "",
        f"Tel. {c['telefono']}" if c["telefono"] else "",
        c["email"],
        c["sito"],
    ):
        if value:
            parts.append(str(escape(value)))
    return "<p>" + "<br>\n".join(parts) + "</p>"


def signature_for(account: MailAccount | None) -> str:
    """The HTML signature appended to every body sent through the account."""
    if account is not None and (account.signature_html or "").strip():
        return account.signature_html
    return default_signature_html()


def validate_signature(html: str) -> list[str]:
    """Problems of a signature (Italian); empty means it can be saved."""
    problems = []
    if len(html or "") > MAX_SIGNATURE_CHARS:
        problems.append(f"Firma troppo lunga (massimo {MAX_SIGNATURE_CHARS} caratteri).")
    if re.search(r"<\s*(script|iframe|object|embed|form)\b|\son\w+\s*=|javascript:", html or "", re.I):
        problems.append("La firma non può contenere script, moduli, frame o gestori di eventi.")
    return problems


def render_source(field: str, source: str, context: dict) -> str:
    """Render one field's text ("subject", "body_html" or "body_text") in the sandbox, within the bounds.

    Raises TemplateValidationError when the text does not pass the save-time checks."""
    return _run(_compiled(field, source), context)


def render_version(
    version: TemplateVersion, context: dict, account: MailAccount | None = None, signature: bool = True
) -> RenderedMail:
    """Render a saved version with a context; the account's signature is appended to both bodies."""
    subject = " ".join(_run(_compiled("subject", version.subject), context).split())[:500]
    html = _run(_compiled("body_html", version.body_html), context).strip()
    if version.body_text.strip():
        text = _run(_compiled("body_text", version.body_text), context).strip() + "\n"
    else:
        text = _html_to_text(html)
    if signature:
        if account is None and context.get("mittente", {}).get("account_id"):
            account = db.session.get(MailAccount, context["mittente"]["account_id"])
        sig = signature_for(account)
        html = f'{html}\n<div class="firma">\n{sig}\n</div>'
        text = f"{text}\n-- \n{_html_to_text(sig)}"
    return RenderedMail(subject=subject, html=html, text=text, version_id=version.id)


def render_for(
    type_code: str,
    language: str,
    context: dict,
    version: TemplateVersion | int | None = None,
    account: MailAccount | None = None,
) -> RenderedMail:
    """Render the e-mail of a type and language: the current version, or the given one (id or row)."""
    if version is None:
        version = current_version(type_code, language)
    elif isinstance(version, int):
        version = db.session.get(TemplateVersion, version)
        if version is None:
            raise LookupError("Versione del modello inesistente")
    return render_version(version, context, account=account)


def render_draft(
    subject: str, body_html: str, body_text: str, context: dict, account: MailAccount | None = None
) -> tuple[RenderedMail | None, list[TemplateError]]:
    """Render unsaved text for the editor preview: (mail, []) or (None, errors) — never raises."""
    fields = {"subject": subject or "", "body_html": body_html or "", "body_text": body_text or ""}
    errors: list[TemplateError] = []
    out: dict[str, str] = {}
    for field, source in fields.items():
        if not source.strip():
            out[field] = ""
            continue
        template, field_errors = _compile_checked(field, source)
        if field_errors:
            errors.extend(field_errors)
            continue
        try:
            out[field] = _run(template, context)
        except Exception as exc:  # noqa: BLE001 — shown to the author in the preview
            errors.append(_render_error(field, exc, False))
    if errors:
        return None, errors
    html = out["body_html"].strip()
    text = out["body_text"].strip() + "\n" if out["body_text"].strip() else _html_to_text(html)
    sig = signature_for(account)
    return RenderedMail(
        subject=" ".join(out["subject"].split())[:500],
        html=f'{html}\n<div class="firma">\n{sig}\n</div>',
        text=f"{text}\n-- \n{_html_to_text(sig)}",
        version_id=None,
    ), []


def markup_lines(source: str, errors: list[TemplateError], field: str) -> list[tuple[int, str, list[str]]]:
    """Source lines with their numbers and the error messages at each line (for the editor)."""
    by_line: dict[int, list[str]] = {}
    for err in errors:
        if err.field == field and err.line:
            by_line.setdefault(err.line, []).append(err.message)
    return [
        (i, Markup.escape(row), by_line.get(i, [])) for i, row in enumerate((source or "").split("\n"), 1)
    ]


# --- sending settings ---------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def update_sending_settings(
    type_code: str,
    *,
    by_pec: bool,
    attach_pdf: bool,
    group_per_recipient: bool,
    reply_to: str,
    cc_address: str,
    account_id: int | None,
    schedule_cron: str | None = None,
    auto_approve: bool | None = None,
) -> dict[str, str]:
    """Validate and apply a type's sending settings; returns {field: Italian error} (nothing written then).

    schedule_cron / auto_approve (automatic preparation) are left unchanged when None.
    """
    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is None:
        raise LookupError(type_code)
    errors: dict[str, str] = {}
    reply_to = (reply_to or "").strip()
    cc_address = (cc_address or "").strip()
    if reply_to and not _EMAIL_RE.match(reply_to):
        errors["reply_to"] = "Indirizzo di risposta non valido."
    if cc_address and not _EMAIL_RE.match(cc_address):
        errors["cc_address"] = "Indirizzo in copia non valido (uno solo)."
    account = None
    if account_id:
        account = db.session.get(MailAccount, account_id)
        if account is None or not account.active:
            errors["account_id"] = "Account inesistente o disattivato."
        elif account.is_pec:
            errors["account_id"] = (
                "Scegli un account ordinario: l'account PEC viene scelto da solo quando il "
                "destinatario è PEC e il tipo va per PEC."
            )
    if schedule_cron is not None:
        from .schedules import validate_cron

        schedule_cron = " ".join(schedule_cron.split())
        problem = validate_cron(schedule_cron)
        if problem:
            errors["schedule_cron"] = problem
    if errors:
        return errors
    before = {
        k: getattr(doc_type, k)
        for k in (
            "by_pec",
            "attach_pdf",
            "group_per_recipient",
            "reply_to",
            "cc_address",
            "account_id",
            "schedule_cron",
            "auto_approve",
        )
    }
    if schedule_cron is not None:
        doc_type.schedule_cron = schedule_cron
    if auto_approve is not None:
        doc_type.auto_approve = bool(auto_approve)
    doc_type.by_pec = bool(by_pec)
    doc_type.attach_pdf = bool(attach_pdf)
    doc_type.group_per_recipient = bool(group_per_recipient)
    doc_type.reply_to = reply_to
    doc_type.cc_address = cc_address
    doc_type.account_id = account.id if account else None
    after = {k: getattr(doc_type, k) for k in before}
    from .audit import audit

    audit(
        "document_type.settings",
        doc_type,
        code=type_code,
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
    )
    return {}
