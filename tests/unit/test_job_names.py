"""Imports flow one way (issue 16): services enqueue jobs by name through mailer.queue and never import
mailer.jobs (which imports services); every job name they may enqueue resolves to a real function."""

from __future__ import annotations

import ast
import importlib
from datetime import timedelta
from pathlib import Path

import pytest

from mailer import queue

ROOT = Path(__file__).resolve().parents[2]
BELOW_JOBS = ("services", "transport", "models", "pdf")


def _module_name(path: Path) -> str:
    """The dotted name of a module file under mailer/ (a package's __init__ is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted name) of everything a module imports, relative imports resolved, function-level ones included;
    string constants naming a mailer.jobs module count too (an import_module by name is still an import)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("mailer.jobs")
        ):
            found.append((node.lineno, node.value))
    return found


def _imports_jobs(path: Path, source: str | None = None) -> list[str]:
    """Where a module imports mailer.jobs, as "file:line name"."""
    return [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for line, name in _imported(path, source)
        if name == "mailer.jobs" or name.startswith("mailer.jobs.")
    ]


def test_services_transport_models_pdf_never_import_jobs():
    """No module below the jobs imports them, not even inside a function: they enqueue by name instead."""
    files = [p for area in BELOW_JOBS for p in sorted((ROOT / "mailer" / area).rglob("*.py"))]
    assert len(files) > 20
    assert [hit for path in files for hit in _imports_jobs(path)] == []


def test_the_check_sees_every_form_of_import():
    """The walk finds absolute, relative and function-level imports of mailer.jobs (so the test above can fail)."""
    found = _imports_jobs(ROOT / "mailer" / "services" / "probe.py", SAMPLE)
    assert [hit.split(" ")[0].rpartition(":")[2] for hit in found] == ["2", "3", "3", "4", "6", "6", "7"]


SAMPLE = """
import mailer.jobs.sending
from ..jobs import batches
from .. import jobs
def later():
    from ..jobs.tracking import poll_account_job
    return "mailer.jobs.campaigns.prepare_campaign_job"
"""


@pytest.mark.parametrize("name", sorted(queue.JOB_NAMES))
def test_every_job_name_resolves_to_a_function(name):
    """A typo in a job name fails here, not in a worker at run time."""
    module, _, function = name.rpartition(".")
    target = getattr(importlib.import_module(module), function)
    assert callable(target) and f"{target.__module__}.{target.__name__}" == name


def test_every_enqueue_in_mailer_names_a_known_job():
    """Every call of mailer.queue.enqueue/enqueue_in passes one of the queue's job-name constants."""
    calls = 0
    for path in sorted((ROOT / "mailer").rglob("*.py")):
        if path == ROOT / "mailer" / "queue.py":
            continue  # the functions themselves
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in ("enqueue_job", "enqueue_in") and not (
                called == "enqueue" and isinstance(func, ast.Name)
            ):
                continue
            name = node.args[1] if called == "enqueue_in" else node.args[0]
            assert isinstance(name, ast.Name), f"{path}:{node.lineno}: name the job by its constant"
            assert getattr(queue, name.id, None) in queue.JOB_NAMES, f"{path}:{node.lineno} {name.id}"
            calls += 1
    assert calls >= 6


def test_enqueue_refuses_an_unknown_name():
    """A name outside JOB_NAMES is refused before anything reaches Redis."""
    with pytest.raises(ValueError, match="unknown job"):
        queue.enqueue("mailer.jobs.sending.run_sendr_job", 1)
    with pytest.raises(ValueError, match="unknown job"):
        queue.enqueue_in(timedelta(seconds=1), "mailer.jobs.sending.batch_sumary_job", 1)
