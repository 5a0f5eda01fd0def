"""Browser tests: record each phase's outcome on the test item, so fixtures can keep a screenshot on failure;
run them in the serial pass of scripts/test.sh."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    """Every browser test is `serial`: Chromium, a live server and a worker process each, with waits of
    fixed length (a preparation must show up within 45 s), so they do not share the CPUs with other tests."""
    for item in items:
        if item.get_closest_marker("browser") is not None or "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.serial)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach rep_setup / rep_call / rep_teardown to the item."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
