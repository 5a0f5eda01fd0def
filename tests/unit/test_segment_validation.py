"""Validation of segment conditions (issue 12.5): a value that names nothing is an error, never dropped.

The database is faked: the session answers which of the asked ids exist."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mailer.models import Agent, ProductCategory, Zone
from mailer.services.segments import validation as segments  # where the db is faked


@pytest.fixture
def existing(monkeypatch):
    """Pretend that rows 1, 2 and 3 exist (whatever the table)."""
    asked: list = []

    def scalars(query):
        asked.append(query)
        return [1, 2, 3]

    monkeypatch.setattr(segments, "db", SimpleNamespace(session=SimpleNamespace(scalars=scalars)))
    return asked


@pytest.mark.parametrize(
    "values, expected",
    [
        (["1", "3"], [1, 3]),
        ("2, 1", [1, 2]),
        ([3, "3"], [3]),
        (None, []),
        ("", []),
        ([" ", ""], []),
    ],
)
def test_known_ids_pass(existing, values, expected):
    """Ids of existing rows come back sorted and unique."""
    assert segments._existing_ids(Zone, values, "zona") == expected


@pytest.mark.parametrize(
    "values, named",
    [
        (["1", "abc"], "abc"),  # used to be dropped silently, leaving the others
        (["99"], "99"),  # a number that is no row
        (
            ["2147483648"],
            "2147483648",
        ),  # beyond the 32-bit id columns: names nothing (and PostgreSQL refuses it)
        (["-1"], "-1"),
        ("Ferramenta", "Ferramenta"),  # a name where an id goes
        ("²", "²"),  # a Unicode digit that int() refuses
    ],
)
def test_unknown_ids_are_named(existing, values, named):
    """Any value that is not the id of an existing row is an Italian error naming it."""
    with pytest.raises(ValueError) as info:
        segments._existing_ids(ProductCategory, values, "categoria di prodotti")
    assert str(info.value) == f"categoria di prodotti inesistente: {named}"


def test_id_conditions_refuse_unknown_values(existing):
    """The agent/zone/category/function/tag conditions refuse an unknown id instead of ignoring it."""
    assert segments.clean_condition({"type": "agent", "ids": ["1", "2"]}) == {"type": "agent", "ids": [1, 2]}
    with pytest.raises(ValueError, match="agente inesistente: 7"):
        segments.clean_condition({"type": "agent", "ids": ["1", "7"]})
    with pytest.raises(ValueError, match="categoria cliente inesistente: x"):
        segments.clean_condition({"type": "category", "ids": "x"})
    assert segments.ID_LABELS["agent"] == (Agent, "agente")


def test_bought_category_must_exist(existing):
    """The product category of a "bought" condition must exist; a missing one is not "no category"."""
    cleaned = segments.clean_condition({"type": "bought", "category": "2", "months": "6"})
    assert cleaned == {"type": "bought", "category": 2, "months": 6}
    with pytest.raises(ValueError, match="categoria di prodotti inesistente: 42"):
        segments.clean_condition({"type": "bought", "category": "42", "months": "6"})
