"""The demo's settings, report and the small helpers its builders share (ids, bulk inserts, timing)."""

from __future__ import annotations

import random
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from stdnum import luhn

from ...extensions import db
from ...models import DocumentType

if TYPE_CHECKING:
    from ...models import Agent, Category, Tag, Zone

CHUNK = 20_000
COMPANY_SLUG = "brambilla-forniture"
COMPANY_DOMAIN = f"{COMPANY_SLUG}.example.com"
DEMO_USERS = [  # username, full name, roles, clearance, document types they may send (None = all)
    ("admin", "Amministratore di sistema", ["admin"], 3, None),
    ("manager", "Laura Brambilla", ["manager"], 3, None),
    (
        "operatore",
        "Paolo Sala",
        ["operator"],
        1,
        [
            "DDT",
            "FATTURA",
            "NOTA_CREDITO",
            "ORDINE_CLIENTE",
            "ORDINE_FORNITORE",
            "ENTRATA_MERCE",
            "ESTRATTO_CONTO",
            "AVVISO_BONIFICO",
            "GENERICO",
        ],
    ),
    ("commerciale", "Giulia Riva", ["sales"], 2, ["OFFERTA", "ORDINE_CLIENTE", "GENERICO"]),
]
# What the documents share of the requested number of lines, and how many lines each has.
LINE_SHARES: dict[str, tuple[float, int, int]] = {
    "FATTURA": (0.27, 1, 14),
    "DDT": (0.23, 1, 12),
    "ORDINE_CLIENTE": (0.12, 1, 10),
    "OFFERTA": (0.08, 2, 10),
    "NOTA_CREDITO": (0.02, 1, 3),
    "ORDINE_FORNITORE": (0.09, 2, 14),
    "ENTRATA_MERCE": (0.08, 2, 14),
    "ESTRATTO_CONTO": (0.05, 1, 8),
    "INSOLUTO": (0.025, 1, 5),
    "AVVISO_BONIFICO": (0.025, 1, 6),
    "GENERICO": (0.005, 1, 1),
    "DICHIARAZIONE_INTENTO": (0.0, 1, 1),
}
NUMBER_PREFIX = {
    "FATTURA": "FV",
    "DDT": "DDT",
    "ORDINE_CLIENTE": "OC",
    "OFFERTA": "OF",
    "NOTA_CREDITO": "NC",
    "ORDINE_FORNITORE": "OA",
    "ENTRATA_MERCE": "EM",
    "ESTRATTO_CONTO": "EC",
    "INSOLUTO": "SOL",
    "AVVISO_BONIFICO": "BON",
    "GENERICO": "GEN",
    "DICHIARAZIONE_INTENTO": "DI",
}


class DemoError(Exception):
    """Demo data refused (the message says why, in Italian)."""


@dataclass
class DemoOptions:
    """How much to build."""

    customers: int = 300
    suppliers: int = 60
    lines: int = 20_000
    products: int = 500
    seed: int = 42
    today: date | None = None


@dataclass
class DemoReport:
    """What was built and how long each step took."""

    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    users_kept: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total time."""
        return sum(t for _n, t in self.timings)


def money(cents: int) -> Decimal:
    """Integer cents to a Decimal amount."""
    return Decimal(cents).scaleb(-2)


def make_vat_number(rng: random.Random, office: str) -> str:
    """A P.IVA with a valid Luhn check digit: 7-digit company number, office code, check digit."""
    body = f"{rng.randint(1, 9_999_999):07d}{office}"
    return body + luhn.calc_check_digit(body)


def slugify(text: str) -> str:
    """ascii, lower case, letters and digits only (for e-mail addresses)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in text if c.isalnum())


def _weekday(day: date) -> date:
    """Move Saturdays and Sundays to the next Monday."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _end_of_month(day: date) -> date:
    """Last day of the month of `day`."""
    following = day.replace(day=28) + timedelta(days=4)
    return following - timedelta(days=following.day)


def _cumulative(weights: list[float]) -> list[float]:
    """Cumulative weights for random.choices."""
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class BuilderBase:
    """The state one run shares between its steps, and the plumbing they use."""

    # set by CompanyMixin.classification_and_products
    zones: dict[str, Zone]
    agents_by_zone: dict[str, list[Agent]]
    customer_categories: list[Category]
    supplier_categories: list[Category]
    tags: list[Tag]
    products: list[tuple[int, str, str, str, int]]  # id, code, description, unit, price cents
    product_weights: list[float]
    # set by PartiesMixin.parties_and_contacts
    customers: list[int]
    suppliers: list[int]
    failure_party: int | None
    party_info: dict[int, dict[str, Any]]
    customer_weights: list[float]
    supplier_weights: list[float]

    def __init__(self, options: DemoOptions, report: DemoReport, echo):
        self.o = options
        self.rng = random.Random(options.seed)
        self.report = report
        self.echo = echo
        self.today = options.today or date.today()  # noqa: DTZ011 — the office's calendar day
        self.conn = db.session.connection()
        self.types = {t.code: t for t in db.session.scalars(sa.select(DocumentType))}

    def step(self, name: str, work) -> None:
        """Run one step and time it."""
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        self.report.timings.append((name, elapsed))
        self.echo(f"  {name}: {elapsed:.1f} s")

    def insert(self, table, rows: list[dict]) -> None:
        """Bulk insert (executemany) in chunks."""
        for start in range(0, len(rows), CHUNK):
            self.conn.execute(sa.insert(table), rows[start : start + CHUNK])

    def next_id(self, table) -> int:
        """First free id of a table (ids are assigned here so that child rows can point at them)."""
        return (self.conn.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1
