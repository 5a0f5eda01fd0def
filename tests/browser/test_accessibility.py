"""Accessibility in a real browser: axe-core (tests/browser/vendor, injected by the test only) on every page
a user of each role reaches from the menus and from the first rows of each list, at 1400 and 900 px, with
no violation of any impact allowed, and status badges (delivery, batch and SdI states, bounce flags, chart
legends) say their state in text, not colour alone. The keyboard is in test_keyboard.py; login, public
pages, forms with errors and htmx fragments in test_accessibility_states.py.

Run alone: `RECAPITO_ENV=testing .venv/bin/pytest tests/browser/test_accessibility.py -q`.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit

import pytest

from tests.support.a11y import axe_violations, colour_only_badges

pytestmark = pytest.mark.browser

WIDTHS = (1400, 900)
ROLES = ("admin", "manager", "operatore", "commerciale")  # the demo users: admin, manager, operator, sales
# Links the crawl does not follow: files, downloads, mail bodies shown in frames, JSON, logout.
SKIP = re.compile(
    r"(\.(pdf|eml|png|csv|xlsx|json|svg|js|css)$)|/(pdf|file|raw|html)$|/export\.|/api/|/auth/|/static/|/healthz"
    r"|/attachments/|/disiscrizione/"
)
PER_PATTERN = 2  # detail pages: the first rows of each list, not all of them
MAX_PAGES = 160  # per role: a runaway crawl fails loudly instead of running for an hour


def _pattern(url: str) -> str:
    """The page a URL stands for: numbers in the path and the query's values blanked, so detail pages
    and list filters are each visited PER_PATTERN times."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$)", "/<id>", parts.path)
    path = re.sub(r"/[A-Z][A-Z_]+(?=/|$)", "/<code>", path)  # document types: one editor stands for all
    path = re.sub(r"/(it|en|de|fr|es)(?=/|$)", "/<lang>", path)
    keys = sorted(k.split("=")[0] for k in parts.query.split("&") if k)
    keep = [k for k in keys if k in ("vista", "tab")]  # the batch's tabs are pages of their own
    values = [p for p in parts.query.split("&") if p.split("=")[0] in keep]
    return path + ("?" + "&".join(sorted(values)) if values else "")


def _links(page, base: str) -> list[str]:
    """Same-origin links of the page, without fragments, in document order."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    out = []
    for href in hrefs:
        url = urldefrag(href)[0]
        if url.startswith(base) and not SKIP.search(urlsplit(url).path):
            out.append(url)
    return out


def _crawl(browser, role: str, seen_patterns: dict[str, int], checked: set[str]) -> tuple[int, list[str]]:
    """Visit what `role` reaches from the menus (breadth first), run axe at both widths on every page
    not yet checked under an earlier role; return (pages visited, failure lines)."""
    page, base = browser.page, browser.base
    queue = [f"{base}/"]
    visited: set[str] = set()
    failures: list[str] = []
    while queue:
        url = queue.pop(0)
        if url in visited:
            continue
        visited.add(url)
        assert len(visited) <= MAX_PAGES, f"{role}: più di {MAX_PAGES} pagine, il crawl non si ferma"
        response = page.goto(url)
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        assert response.status < 500, f"{role}: {url} risponde {response.status}"
        page.wait_for_load_state("networkidle")
        pattern = _pattern(page.url)
        if pattern not in checked or pattern == "/":
            checked.add(pattern)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1000})
                where = f"{role} {width}px {urlsplit(page.url).path}?{urlsplit(page.url).query}"
                failures += [f"{where}: {line}" for line in axe_violations(page)]
                failures += [
                    f"{where}: [colore] badge senza testo — {html}" for html in colour_only_badges(page)
                ]
            page.set_viewport_size({"width": WIDTHS[0], "height": 1000})
        for link in _links(page, base):
            key = _pattern(link)
            if link in visited or link in queue:
                continue
            if seen_patterns.get(key, 0) >= PER_PATTERN:
                continue
            seen_patterns[key] = seen_patterns.get(key, 0) + 1
            queue.append(link)
    return len(visited), failures


def test_axe_finds_nothing_on_any_page(app, demo_world, browser):
    """Every role's pages, from the menus down to the first detail pages, at 1400 and 900 px: no axe
    violation of any impact (the message lists role, width, page, rule and nodes)."""
    checked: set[str] = set()
    failures: list[str] = []
    visited = {}
    for role in ROLES:
        browser.login(role)
        count, found = _crawl(browser, role, {}, checked)
        visited[role] = count
        failures += found
        browser.logout()
    # The crawl really went somewhere: each role's menu, and the detail pages the brief names.
    assert all(n >= 5 for n in visited.values()), visited
    for expected in ("/anagrafiche/<id>", "/documenti/<id>", "/invii/<id>", "/modelli/", "/admin/users"):
        assert any(p.startswith(expected) for p in checked), (expected, sorted(checked))
    assert not failures, f"{len(failures)} violazioni axe su {len(checked)} pagine:\n" + "\n".join(failures)
