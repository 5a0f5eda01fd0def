"""The tests' shared URL builders build exactly the URLs Werkzeug builds on its own."""

from __future__ import annotations

from werkzeug.routing import Map, Rule

from tests.support import fast_routes


def _urls(adapter):
    return [
        adapter.build("doc", {"doc_id": 7}),
        adapter.build("doc", {"doc_id": 7, "q": "a b", "page": 2}),
        adapter.build("year", {"year": 2026}),
        adapter.build("year", {}),
        adapter.build("static", {"filename": "css/x y.css"}),
    ]


def _map():
    return Map(
        [
            Rule("/documenti/<int:doc_id>", endpoint="doc"),
            Rule("/anno/<int:year>", endpoint="year"),
            Rule("/anno/", endpoint="year", defaults={"year": 2025}),
            Rule("/static/<path:filename>", endpoint="static"),
        ]
    )


def test_shared_builders_build_the_same_urls(monkeypatch):
    """Two maps with the same rules: the second reuses the builders and builds identical URLs."""
    monkeypatch.setattr(fast_routes.rules.Rule, "_compile_builder", fast_routes._original)
    plain = _urls(_map().bind("localhost"))
    fast_routes.install()
    first = _urls(_map().bind("localhost"))
    second = _urls(_map().bind("localhost"))
    assert plain == first == second
    assert second[1] == "/documenti/7?q=a+b&page=2"
    assert second[3] == "/anno/"
