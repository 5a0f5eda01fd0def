"""The errors of templates: the problem record shown to the author and the exceptions of a render."""

from __future__ import annotations

from dataclasses import dataclass

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
