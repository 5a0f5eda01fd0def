"""The audit log page says every detail in Italian: each keyword an `audit(...)` call in mailer/ passes has a
name in DETAIL_NAMES (the page showed «resends: 0», «smtp_code», «send_types»)."""

from __future__ import annotations

import ast
from pathlib import Path

from mailer.services.audit_log import DETAIL_NAMES, details_label

MAILER = Path(__file__).resolve().parents[2] / "mailer"


def _audit_keywords() -> set[str]:
    """Every keyword argument of every call to a function named `audit` in mailer/."""
    keys = set()
    for path in MAILER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "audit"
            ):
                keys.update(k.arg for k in node.keywords if k.arg)
    return keys - {"user"}  # the actor, not a detail


def test_every_audit_detail_has_an_italian_name():
    missing = sorted(_audit_keywords() - set(DETAIL_NAMES))
    assert missing == [], f"dettagli del registro senza nome italiano: {missing}"


def test_details_and_changed_fields_in_words():
    assert details_label({"automatic": False, "resends": 2}) == "automatica: no; reinvii: 2"
    changes = details_label({"changes": {"privacy_level": [0, 3]}})
    assert changes == "modifiche: riservatezza: 0 → 3"
