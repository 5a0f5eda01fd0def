"""The one pager partial (`templates/_pager.html`) and the pagination helpers (issue 16)."""

from __future__ import annotations

import re

from flask import render_template_string

from mailer.services.pagination import page_arg, page_count

PAGER = '{% include "_pager.html" %}'


def _hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'<a href="([^"]+)"', html)]


def test_pager_keeps_the_other_query_parameters(app):
    """By default the links keep the path and query parameters of the request, only the page changes."""
    with app.test_request_context("/invii/7?vista=sent&q=100%25&pagina=2"):
        html = render_template_string(
            "{% with page_param = 'pagina' %}" + PAGER + "{% endwith %}", pager={"page": 2, "pages": 3}
        )
    assert _hrefs(html) == ["/invii/7?vista=sent&q=100%25", "/invii/7?vista=sent&q=100%25&pagina=3"]


def test_pager_with_explicit_arguments_labels_and_htmx_target(app):
    with app.test_request_context("/documenti/?page=2&party=x"):
        html = render_template_string(
            "{% with pager_endpoint = 'documents.index', pager_args = {'party': 'y'}, pager_target = 't', "
            "pager_labels = ('indietro', 'avanti'), pager_counter = true %}" + PAGER + "{% endwith %}",
            pager={"page": 2, "pages": 3},
        )
    assert _hrefs(html) == ["/documenti/?party=y", "/documenti/?party=y&page=3"]
    assert 'hx-get="/documenti/?party=y&amp;page=3" hx-target="#t" hx-push-url="true"' in html
    assert ">indietro</a>" in html and ">avanti</a>" in html and "Pagina 2 di 3" in html


def test_one_page_draws_no_pager(app):
    with app.test_request_context("/documenti/"):
        assert "<nav" not in render_template_string(PAGER, pager={"page": 1, "pages": 1})
        assert "<nav" not in render_template_string(PAGER, pager={"page": 1, "pages": 0})


def test_page_arg_and_page_count():
    assert [page_arg(v) for v in ("3", "0", "-2", "abc", "", str(10**9), None)] == [3, 1, 1, 1, 1, 1, 1]
    assert [page_count(n, 50) for n in (0, 1, 50, 51)] == [1, 1, 1, 2]
