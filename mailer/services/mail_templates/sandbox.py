"""The Jinja sandbox templates run in: no loader, few filters and methods, bounded loops, sizes and output."""

from __future__ import annotations

import contextvars
from decimal import Decimal

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, make_attrgetter, pass_eval_context
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import soft_str

from ... import formatting
from .errors import TemplateLimitError, TemplateOutputError

# --- limits -------------------------------------------------------------------------------------

MAX_SOURCE_CHARS = 50_000  # per field, as typed by the admin
MAX_OUTPUT_CHARS = 200_000  # per rendered field
MAX_SUBJECT_CHARS = 300  # rendered subject (Delivery.subject holds 500)
MAX_LOOP_ITERATIONS = 20_000  # all loops of one render together
MAX_RANGE = 1_000  # range(n) in a template
MAX_SEQUENCE_PRODUCT = 10_000  # "ab" * n, [x] * n
MAX_LOOP_DEPTH = 3  # nested {% for %}

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


def _exceeds(value: int | float | Decimal, bound: int) -> bool:
    """abs(value) > bound, one branch per number type (mypy cannot type abs() of their union)."""
    if isinstance(value, Decimal):
        return abs(value) > bound
    if isinstance(value, float):
        return abs(value) > bound
    return abs(value) > bound


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
                or _exceeds(right, 100)
                or _exceeds(left, 10**12)
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


ENVS = {"html": _make_env(True), "text": _make_env(False)}
GLOBAL_NAMES = {"range", "loop"}


def field_kind(field: str) -> str:
    """HTML fields autoescape, the subject and plain text do not."""
    return "html" if field == "body_html" else "text"


def run(template, context: dict, limit: int = MAX_OUTPUT_CHARS) -> str:
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
