"""Live segment count on 20,000 parties, 100,000 contacts and 1,000,000 invoice lines (by default).

Builds the data once in a migrated database (so every index of the migrations is there) and reuses it,
then times `segments.count` for two filters, 30 runs each:

  A. bought product P in the last 12 months
  B. product category C, at least 1.000 € in the last 12 months, zone Z

Prints median and p95 per filter, and on a local PostgreSQL the server's CPU per count (unlike the
wall-clock times it does not grow with the machine's load); the last line is one JSON object.

Environment: BENCH_DATABASE_URL (or --database-url) runs it on PostgreSQL, in a database that is empty or
holds this benchmark's data; BENCH_PARTIES, BENCH_CONTACTS_PER_PARTY, BENCH_LINES choose the size. On
PostgreSQL the rows go in with COPY (secondary indexes dropped and rebuilt, then VACUUM ANALYZE); on SQLite
with INSERTs of 20,000 rows. Full size of issue 19 (164 s to build at load 18-20, 3 minutes with the runs; 1.1 GB):

  createdb -h 127.0.0.1 -U postgres bench_big
  BENCH_PARTIES=40000 BENCH_CONTACTS_PER_PARTY=5 BENCH_LINES=5000000 \
  BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_big .venv/bin/python benchmarks/segments.py

Usage: .venv/bin/python benchmarks/segments.py [--db /tmp/x.db] [--rebuild] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTIES = int(os.environ.get("BENCH_PARTIES", 20_000))
CONTACTS_PER_PARTY = int(os.environ.get("BENCH_CONTACTS_PER_PARTY", 5))
LINES = int(os.environ.get("BENCH_LINES", 1_000_000))
PRODUCTS, CATEGORIES, ZONES, AGENTS = 1_000, 20, 12, 30
LINES_PER_DOC = 8


def build(app, echo) -> None:
    """Fill the empty migrated database with the synthetic data."""
    from benchmarks.benchdb import BulkLoader
    from mailer.extensions import db
    from mailer.models import (
        Agent,
        Category,
        Contact,
        Document,
        DocumentLine,
        Party,
        Product,
        ProductCategory,
        Zone,
    )

    rng = random.Random(7)
    today = date.today()
    loader = BulkLoader(db.session.connection())
    loader.defer_indexes("documents", "document_lines", "contacts", "parties")

    def insert(model, rows):
        loader.insert(model.__table__, rows)

    t0 = time.perf_counter()
    insert(Zone, [{"id": i, "code": f"Z{i}", "name": f"Zona {i}"} for i in range(1, ZONES + 1)])
    insert(
        Agent, [{"id": i, "code": f"A{i}", "name": f"Agente {i}", "email": ""} for i in range(1, AGENTS + 1)]
    )
    insert(Category, [{"id": i, "code": f"K{i}", "name": f"Categoria {i}"} for i in range(1, 6)])
    insert(
        ProductCategory,
        [{"id": i, "code": f"PC{i}", "name": f"Famiglia {i}"} for i in range(1, CATEGORIES + 1)],
    )
    insert(
        Product,
        [
            {
                "id": i,
                "code": f"P{i:05d}",
                "description": f"Articolo {i}",
                "unit": "PZ",
                "category_id": 1 + i % CATEGORIES,
            }
            for i in range(1, PRODUCTS + 1)
        ],
    )
    from datetime import datetime

    now = datetime.now().replace(microsecond=0)
    provinces = ["MI", "BG", "BS", "TO", "VR", "PD", "BO", "FI", "RM", "NA", "BA", "PA"]
    insert(
        Party,
        [
            {
                "id": i,
                "erp_code": f"C{i:06d}",
                "kind": "customer" if i % 10 else "supplier",
                "name": f"Cliente {i:06d} S.r.l.",
                "vat_number": "",
                "tax_code": "",
                "address": "",
                "zip_code": "",
                "city": f"Città {i % 400}",
                "province": provinces[i % len(provinces)],
                "country": "IT",
                "language": "it",
                "zone_id": 1 + i % ZONES,
                "agent_id": 1 + i % AGENTS,
                "category_id": 1 + i % 5,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, PARTIES + 1)
        ],
    )
    contacts = []
    for i in range(1, PARTIES * CONTACTS_PER_PARTY + 1):
        contacts.append(
            {
                "id": i,
                "party_id": 1 + (i - 1) // CONTACTS_PER_PARTY,
                "erp_code": "",
                "name": f"Contatto {i}",
                "phone": "",
                "email": f"c{i}@example.com",
                "is_pec": i % 17 == 0,
                "pec_flag_manual": False,
                "from_inipec": False,
                "privacy_level": i % 4,
                "marketing_consent": i % 3 == 0,
                "consent_source": "",
                "bounce_count": 0,
                "notes": "",
                "active": i % 23 != 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    insert(Contact, contacts)
    echo(f"anagrafiche e contatti: {time.perf_counter() - t0:.1f} s")
    docs: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    line_id = 0
    doc_id = 0
    while line_id < LINES:
        doc_id += 1
        party = rng.randint(1, PARTIES)
        day = today - timedelta(days=rng.randint(0, 729))
        docs.append(
            {
                "id": doc_id,
                "type_code": "FATTURA" if doc_id % 5 else "DDT",
                "number": str(doc_id),
                "year": day.year,
                "date": day,
                "party_id": party,
                "currency": "EUR",
                "total_net": 0,
                "total_vat": 0,
                "total": 0,
                "due_dates": [],
                "extra": {},
                "source": "demo",
                "source_ref": "",
                "pdf_rendered": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        for n in range(1, LINES_PER_DOC + 1):
            line_id += 1
            product = rng.randint(1, PRODUCTS)
            qty = rng.randint(1, 50)
            price = 1 + product % 90
            lines.append(
                {
                    "id": line_id,
                    "document_id": doc_id,
                    "line_no": n,
                    "product_id": product,
                    "product_code": f"P{product:05d}",
                    "description": "",
                    "quantity": qty,
                    "unit": "PZ",
                    "unit_price": price,
                    "discount_pct": 0,
                    "vat_rate": 22,
                    "amount": qty * price,
                }
            )
        if len(lines) >= 100_000:
            insert(Document, docs)
            insert(DocumentLine, lines)
            docs, lines = [], []
    insert(Document, docs)
    insert(DocumentLine, lines)
    echo(f"{doc_id} documenti, {line_id} righe inseriti: {time.perf_counter() - t0:.1f} s")
    loader.finish()
    db.session.commit()
    loader.vacuum()
    echo(f"indici e VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s in tutto")


def timed(fn, runs: int) -> list[float]:
    """Milliseconds of each run."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p95(values: list[float]) -> float:
    """95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    """Build (once) and measure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/recapito-bench-segments.db")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{args.db}"
    if not args.database_url and args.rebuild and os.path.exists(args.db):
        os.remove(args.db)
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
    from flask_migrate import upgrade

    from benchmarks.benchdb import backend_cpu_seconds
    from mailer import create_app
    from mailer.extensions import db
    from mailer.models import Party
    from mailer.services import segments

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parents[1] / "migrations"))
        if not db.session.scalar(db.select(db.func.count(Party.id))):
            print("costruzione dei dati (una volta sola)…", flush=True)
            build(app, lambda m: print("  " + m, flush=True))
        filters: dict[str, list[dict[str, Any]]] = {
            "A. ha acquistato l'articolo P00042 negli ultimi 12 mesi": [
                {"type": "bought", "products": ["P00042"], "months": 12}
            ],
            "B. categoria 7, almeno 1.000 €, zona 3, ultimi 12 mesi": [
                {"type": "bought", "category": 7, "min_amount": "1000", "months": 12},
                {"type": "zone", "ids": [3]},
            ],
        }
        all_runs: list[float] = []
        cpu: dict[str, float] = {}
        for label, raw in filters.items():
            conds = segments.parse_conditions(raw)
            result = segments.count(conds, 3)
            server_before, client_before = backend_cpu_seconds(db.session), time.process_time()
            runs = timed(lambda conds=conds: segments.count(conds, 3), args.runs)
            server_after, client_after = backend_cpu_seconds(db.session), time.process_time()
            all_runs += runs
            line = (
                f"{label}: {result.parties} anagrafiche, {result.contacts} contatti · "
                f"mediana {statistics.median(runs):.1f} ms · p95 {p95(runs):.1f} ms"
            )
            if server_before is not None and server_after is not None:
                cpu[label[0]] = (server_after - server_before) * 1000 / len(runs)
                line += f" · CPU del server {cpu[label[0]]:.1f} ms a conteggio"
            print(f"{line} · CPU del client {(client_after - client_before) * 1000 / len(runs):.1f} ms")
        figures = {
            "count_median_ms": round(statistics.median(all_runs), 1),
            "count_p95_ms": round(p95(all_runs), 1),
        }
        if cpu:
            figures["server_cpu_ms_per_count"] = round(statistics.mean(cpu.values()), 1)
        figures["load_1min"] = os.getloadavg()[0]
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
