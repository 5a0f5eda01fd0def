"""The RQ worker lowers its own CPU priority (never raises it), so pages stay quick while it sends."""

from __future__ import annotations

import os
import subprocess
import sys


def _nice_after(target: int, start: int = 0) -> int:
    """Nice value of a fresh process that started at `start` and called lower_priority(target)."""
    code = (
        "import os, sys; os.nice(int(sys.argv[2])); from mailer.jobs.worker import lower_priority; "
        "print(lower_priority(int(sys.argv[1])), os.nice(0))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target), str(start)],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    reported, actual = map(int, out.stdout.split())
    assert reported == actual
    return actual


def test_worker_priority_is_lowered_to_target():
    """From nice 0 to the target; capped at 19."""
    base = os.nice(0)
    assert _nice_after(10) == max(10, base)
    assert _nice_after(40) == 19


def test_worker_priority_is_never_raised():
    """A worker started at nice 15 (by systemd, say) stays there; 0 leaves the priority alone."""
    base = os.nice(0)
    assert _nice_after(10, start=15) == min(19, base + 15)
    assert _nice_after(0) == base
