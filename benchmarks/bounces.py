"""Bounce recognition on the corpus in tests/data/bounces (sources: its SOURCES.md).

For the real-world part (flufl.bounce's, bounce_email's, bounced's and mail-parser's test messages)
and, apart, for the messages written for Recapito from the providers' formats, prints: bounces and
non-bounces, recognised %, recipients right %, permanence right %, false positives, and the files
missed or wrong; then how many messages flufl.bounce recognises on its own and whether we name at
least its addresses on every one. The last line is one JSON object with the figures.
Usage: .venv/bin/python benchmarks/bounces.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.bounce_corpus import flufl_coverage, measure


def main() -> None:
    """Measure and print."""
    started = time.perf_counter()
    summary: dict[str, Any] = {}
    for name, constructed in (("real_world", False), ("constructed", True)):
        figures = measure(constructed=constructed)
        summary[name] = figures.as_dict()
        print(f"== {name}: {figures.bounces} rimbalzi, {figures.non_bounces} non rimbalzi")
        print(
            f"   riconosciuti {figures.percent(figures.recognised)}%, destinatari giusti "
            f"{figures.percent(figures.recipients_right)}%, permanenza giusta {figures.percent(figures.permanence_right)}%, "
            f"falsi positivi {len(figures.false_positives)}"
        )
        for label, items in (
            ("non riconosciuti", figures.missed),
            ("destinatari sbagliati", figures.wrong_recipients),
            ("permanenza sbagliata", figures.wrong_permanence),
            ("falsi positivi", figures.false_positives),
        ):
            for item in items:
                print(f"   {label}: {item}")
    recognised, short = flufl_coverage()
    print(
        f"== flufl.bounce da solo riconosce {recognised} messaggi; noi ne manchiamo o nominiamo meno indirizzi su "
        f"{len(short)}"
    )
    for item in short:
        print(f"   {item}")
    summary["flufl_recognised"] = recognised
    summary["flufl_short"] = len(short)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
