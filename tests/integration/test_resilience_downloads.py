"""Issue 14.9: every private download answers `Cache-Control: no-store` and a CSV says its charset once.

Every GET route of the URL map is fetched as an administrator (the API with a full token), with real
ids from the shared world; whatever comes back as a file (not an HTML page) must not be kept by the
browser or a proxy. The results exports are fetched in both formats.
"""

from __future__ import annotations

import pytest

from tests.integration.test_security_routes import RULE_METHODS, url_for_rule

GET_RULES = [(key, rule) for key, method, rule in RULE_METHODS if method == "GET"]
# Not private, or pictures shown inside a page (kept a few minutes in the user's own browser on purpose).
CACHEABLE = {"static", "admin.company_logo", "campaigns.version_page"}
# Downloads the world must reach, so the crawl cannot pass by fetching nothing.
MUST_DOWNLOAD = {
    "batches.export",
    "batches.message_source",
    "batches.attachment",
    "batches.receipt_source",
    "documents.pdf",
    "contacts.export",
    "auditlog.export",
    "api.document_pdf",
    "documents.attachment",
    "campaigns.version_file",
    "admin.captured_raw",
    "admin.captured_attachment",
    "tracking.source",
}


def _fetch(sec_world, client, key, rule, url=None):
    """GET the rule's URL as the right caller."""
    url = url or url_for_rule(rule, sec_world.ids)
    headers = {"Authorization": f"Bearer {sec_world.tokens['high']}"} if key.startswith("api.") else {}
    return url, client(key).get(url, headers=headers)


@pytest.fixture(scope="module")
def caller(sec_world):
    """The administrator's session for pages, a cookie-less client for the token API."""
    admin, api = sec_world.login("w-admin"), sec_world.client()
    return lambda key: api if key.startswith("api.") else admin


def _is_download(response) -> bool:
    """A file rather than a page: a Content-Disposition, or any body that is not HTML or JSON."""
    return "Content-Disposition" in response.headers or response.mimetype not in (
        "text/html",
        "application/json",
    )


def test_every_private_download_is_no_store(sec_world, caller):
    """esiti.csv/.xlsx, messaggio.eml, receipts, PDFs, exports, captured mail, the API's PDFs: no-store."""
    downloads, cached = set(), []
    for key, rule in GET_RULES:
        if key in CACHEABLE:
            continue
        url, response = _fetch(sec_world, caller, key, rule)
        if response.status_code != 200 or not _is_download(response):
            continue
        downloads.add(key)
        if "no-store" not in response.headers.get("Cache-Control", ""):
            cached.append(f"{url} ({response.headers.get('Cache-Control')!r})")
    assert MUST_DOWNLOAD - downloads == set(), "downloads not reached by the crawl"
    assert cached == [], "downloads a browser or proxy may keep"


@pytest.mark.parametrize(
    "fmt,content_type",
    [
        ("csv", "text/csv; charset=utf-8"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_results_export_headers(sec_world, caller, fmt, content_type):
    """The batch results: exact Content-Type (charset once), attachment, no-store."""
    rule = next(r for k, r in GET_RULES if k == "batches.export")
    url = url_for_rule(rule, sec_world.ids).replace("esiti.csv", f"esiti.{fmt}")
    _url, response = _fetch(sec_world, caller, "batches.export", rule, url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"


def test_csv_exports_say_their_charset_once(sec_world, caller):
    """Every CSV export (results, contacts, audit log) names utf-8 exactly once."""
    for key in ("batches.export", "contacts.export", "auditlog.export"):
        rule = next(r for k, r in GET_RULES if k == key)
        url, response = _fetch(sec_world, caller, key, rule)
        if response.mimetype != "text/csv":
            continue
        assert response.headers["Content-Type"].lower().count("charset") == 1, (
            url,
            response.headers["Content-Type"],
        )
