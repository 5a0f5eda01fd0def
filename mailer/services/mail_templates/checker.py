"""Save-time checks of a template: forbidden tags, unknown placeholders (with their line), test renders."""

from __future__ import annotations

import difflib
import re
import traceback
from functools import lru_cache

from jinja2 import TemplateAssertionError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from ...extensions import db
from ...models import DocumentType
from .context import sample_context
from .errors import TemplateError, TemplateLimitError, TemplateOutputError, TemplateValidationError
from .sandbox import (
    ENVS,
    GLOBAL_NAMES,
    MAX_LOOP_DEPTH,
    MAX_SOURCE_CHARS,
    MAX_SUBJECT_CHARS,
    SAFE_METHODS,
    field_kind,
    run,
)
from .schema import SCHEMA

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


class Checker:
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
        for inner in node.iter_child_nodes():
            self.statement(inner, scope, depth)

    def printed(self, node: nodes.Node, scope: dict) -> None:
        """What {{ … }} prints must be a value: not range, the loop helper or a method without brackets."""
        if isinstance(node, nodes.Filter) and node.node is not None:
            self.printed(node.node, scope)
        elif isinstance(node, nodes.Concat):
            for part in node.nodes:
                self.printed(part, scope)
        elif isinstance(node, nodes.CondExpr):
            for branch in (node.expr1, node.expr2):
                if branch is not None:
                    self.printed(branch, scope)
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


def wrap_loops(tree: nodes.Template) -> None:
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


def italian(message: str) -> str:
    """Italian text for the most common Jinja syntax messages (others keep the original words)."""
    for pattern, replacement in _SYNTAX_TRANSLATIONS:
        if re.fullmatch(pattern, message or "", flags=re.S):
            return re.sub(pattern, replacement, message, flags=re.S)
    return message or "errore"


def compile_checked(field: str, source: str, schema: dict | None = None):
    """Parse, check and compile one field: (template or None, errors).

    `schema`: the placeholders the text may use (SCHEMA unless given, e.g. the campaigns' own)."""
    env = ENVS[field_kind(field)]
    if len(source) > MAX_SOURCE_CHARS:
        return None, [
            TemplateError(field, None, f"Testo troppo lungo (massimo {MAX_SOURCE_CHARS} caratteri)")
        ]
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return None, [TemplateError(field, exc.lineno, "Errore di sintassi: " + italian(exc.message or ""))]
    checker = Checker(field)
    checker.statement(tree, dict(SCHEMA if schema is None else schema), 0)
    if checker.errors:
        return None, checker.errors
    wrap_loops(tree)
    try:
        template = env.from_string(tree)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        return None, [TemplateError(field, exc.lineno, "Errore di sintassi: " + italian(exc.message or ""))]
    return template, []


@lru_cache(maxsize=512)
def compiled(field: str, source: str):
    """Compiled template of a saved field (validated sources only; cached)."""
    template, errors = compile_checked(field, source)
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


def render_error(field: str, exc: Exception, sparse: bool) -> TemplateError:
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


def promotional(text: str) -> str | None:
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
        template, field_errors = compile_checked(field, source)
        errors.extend(field_errors)
        if template is not None:
            compiled[field] = template
    if type_code and not _is_commercial(type_code):
        for field, source in fields.items():
            word = promotional(source)
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
                output = run(template, context)
            except Exception as exc:  # noqa: BLE001 — any failure is reported to the author, at its line
                errors.append(render_error(field, exc, sparse))
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
