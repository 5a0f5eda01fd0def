"""Test-only speed-up: share Werkzeug's compiled URL builders between the apps the tests create.

Every test builds a fresh app (`create_app`), and Werkzeug compiles a URL builder for each of the
~120 routes with `ast` + `compile` each time: about 0.2 s per test, most of the cost of an app. The
generated function depends only on the rule's parts, its defaults and `append_unknown`; it reads the
rule's converters through its `self` argument at call time. So a builder compiled once can be bound to
the same rule of the next app: the URLs built are identical. Production code is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import rules

_original = rules.Rule._compile_builder
_builders: dict[Any, Callable[..., tuple[str, str]]] = {}


def _shared_builder(self: rules.Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    """The builder of an identical rule compiled earlier, else a new one."""
    try:
        key = (tuple(self._trace), tuple(sorted((self.defaults or {}).items())), append_unknown)
        hash(key)
    except TypeError:  # unhashable defaults: compile as usual
        return _original(self, append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _original(self, append_unknown)
    return builder


def install() -> None:
    """Route every Rule compilation through the shared builders (idempotent)."""
    rules.Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
