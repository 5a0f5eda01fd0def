"""The bounce corpus (tests/data/bounces, sources in its SOURCES.md) and the figures measured on it:
recognised %, recipients right %, permanence right %, false positives, and whether every bounce that
flufl.bounce alone recognises is recognised with the same addresses. Used by the unit test and by
benchmarks/bounces.py."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
# Constructed by us from the providers' published formats: measured apart from the real-world files.
CONSTRUCTED = ("own/",)


def expected() -> dict[str, dict]:
    """{relative path: {"bounce", "recipients", "permanent", "label"}} for every file of the corpus."""
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@dataclass
class Figures:
    """What one reader got right on one part of the corpus."""

    files: int = 0
    bounces: int = 0
    recognised: int = 0
    recipients_right: int = 0
    permanence_right: int = 0
    non_bounces: int = 0
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong_recipients: list[str] = field(default_factory=list)
    wrong_permanence: list[str] = field(default_factory=list)

    def percent(self, count: int) -> float:
        """count as a percentage of the bounces (0 when there are none)."""
        return round(100.0 * count / self.bounces, 1) if self.bounces else 0.0

    def as_dict(self) -> dict:
        """The figures, for printing."""
        return {
            "files": self.files,
            "bounces": self.bounces,
            "non_bounces": self.non_bounces,
            "recognised_pct": self.percent(self.recognised),
            "recipients_right_pct": self.percent(self.recipients_right),
            "permanence_right_pct": self.percent(self.permanence_right),
            "false_positives": len(self.false_positives),
        }


def _ours(raw: bytes) -> tuple[bool, set[str], set[str], bool | None]:
    """Recapito's reader: (bounce?, main addresses, every address named, permanent?)."""
    from mailer.transport.inbound import read_message

    info = read_message(raw, check_signature=False)
    if info.kind != "bounce":
        return False, set(), set(), None
    report = info.bounce
    main = {r.address for r in report.recipients} if report else set(info.recipients)
    named = report.addresses() if report else set(info.recipients)
    return True, main, named, info.receipt_type == "permanent"


def flufl_alone(raw: bytes) -> tuple[set[str], set[str]]:
    """flufl.bounce on its own: (temporary, permanent) addresses, lower case."""
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(email.message_from_bytes(raw, policy=email.policy.compat32))
    low = lambda found: {a.decode("utf-8", "replace").lower() for a in found}  # noqa: E731
    return low(temporary), low(permanent)


def measure(constructed: bool = False) -> Figures:
    """Run our reader over the real-world part of the corpus (or the constructed one)."""
    figures = Figures()
    for path, truth in expected().items():
        if path.startswith(CONSTRUCTED) != constructed:
            continue
        figures.files += 1
        bounce, main, named, permanent = _ours((CORPUS / path).read_bytes())
        if not truth["bounce"]:
            figures.non_bounces += 1
            if bounce:
                figures.false_positives.append(path)
            continue
        figures.bounces += 1
        if not bounce:
            figures.missed.append(path)
            continue
        figures.recognised += 1
        want = set(truth["recipients"])
        if main == want or (want <= named and len(main) == len(want)):
            figures.recipients_right += 1
        else:
            figures.wrong_recipients.append(f"{path}: {sorted(main)} ≠ {sorted(want)}")
        if permanent == truth["permanent"]:
            figures.permanence_right += 1
        else:
            figures.wrong_permanence.append(path)
    return figures


def flufl_coverage() -> tuple[int, list[str]]:
    """Files of the corpus flufl.bounce recognises on its own, and those where we do not name at least
    the same addresses."""
    recognised, short = 0, []
    for path in expected():
        raw = (CORPUS / path).read_bytes()
        temporary, permanent = flufl_alone(raw)
        if not (temporary or permanent):
            continue
        recognised += 1
        bounce, _, named, _ = _ours(raw)
        if not bounce or not (temporary | permanent) <= named:
            short.append(
                f"{path}: flufl {sorted(temporary | permanent)}, noi {sorted(named) if bounce else 'non rimbalzo'}"
            )
    return recognised, short
