"""Browser tests: record each phase's outcome on the test item, so fixtures can keep a screenshot on failure."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach rep_setup / rep_call / rep_teardown to the item."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
