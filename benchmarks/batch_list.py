"""Benchmark of the batches list and the dashboard on 5,000 batches and 100,000 deliveries (issue 12.7).

Builds (or reuses) a scratch SQLite database (BENCH_BATCHES_DB, default /tmp/recapito-bench-batches.db)
with the migrations and bulk Core inserts: batches of six type combinations (one in six is DDT only),
20 deliveries each linked to 2,000 contacts of every privacy level. Logs in through the real login
form and times, server-side with the Flask test client, for a manager allowed every type and for a
manager allowed only DDT (clearance 1):

- "/invii/" first page, a middle page, the last page, and the «Concluso» filter;
- the dashboard "/".

Prints median and p95 per user and the SQL statements per request (constant: the rule and the
counts are SQL, one grouped count per page); the last line is one JSON object.
Goal: median < 100 ms, p95 < 250 ms on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.benchdb import database_url
from benchmarks.contacts import percentile

N_BATCHES = int(os.environ.get("BENCH_BATCHES", 5_000))
PER_BATCH = int(os.environ.get("BENCH_DELIVERIES_PER_BATCH", 20))
N_CONTACTS = 2_000
DB_PATH = os.environ.get("BENCH_BATCHES_DB", "/tmp/recapito-bench-batches.db")
DB_URL = database_url(DB_PATH)  # BENCH_DATABASE_URL (PostgreSQL) when set
PASSWORD = "bench-password-123"
COMBOS = [
    ["DDT"],
    ["FATTURA"],
    ["FATTURA", "NOTA_CREDITO"],
    ["INSOLUTO"],
    ["ESTRATTO_CONTO"],
    ["DDT", "FATTURA"],
]
STATUSES = ["sent"] * 6 + ["failed", "bounced", "uncertain", "excluded"]


def build() -> None:
    """Create the schema with the migrations and fill it with bulk inserts (skipped when present)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from mailer.extensions import db
    from mailer.models import Batch, Contact, Delivery, Party
    from mailer.services.reference import ensure_reference_data
    from mailer.services.users import create_user

    upgrade()
    ensure_reference_data()
    have = db.session.scalar(select(func.count(Batch.id))) or 0
    if have >= N_BATCHES:
        print(f"Database riusato: {DB_URL} ({have} invii)")
        return
    if have:
        raise SystemExit(f"{DB_URL} contiene dati parziali: cancellalo e rilancia.")
    started = time.perf_counter()
    rnd = random.Random(42)
    db.session.execute(
        insert(Party),
        [
            {
                "erp_code": f"C{i:05d}",
                "kind": "customer",
                "name": f"Cliente {i} S.r.l.",
                "country": "IT",
                "language": "it",
                "active": True,
            }
            for i in range(1, 201)
        ],
    )
    db.session.execute(
        insert(Contact),
        [
            {
                "party_id": 1 + i % 200,
                "erp_code": "",
                "name": f"Contatto {i}",
                "phone": "",
                "email": f"c{i}@cliente.it",
                "is_pec": False,
                "pec_flag_manual": False,
                "from_inipec": False,
                "privacy_level": rnd.choices([0, 1, 2, 3], weights=[70, 15, 10, 5])[0],
                "marketing_consent": False,
                "consent_source": "",
                "bounce_count": 0,
                "notes": "",
                "active": True,
            }
            for i in range(1, N_CONTACTS + 1)
        ],
    )
    base = datetime(2026, 1, 1, 8, 0)
    batches: list[dict[str, Any]] = [
        {
            "kind": "documents",
            "name": f"Invio {i}",
            "status": "done" if i % 10 else "ready",
            "params": {},
            "type_codes": COMBOS[i % len(COMBOS)],
            "template_versions": {},
            "progress_total": PER_BATCH,
            "progress_done": PER_BATCH,
            "job_id": "",
            "error": "",
            "created_at": base + timedelta(minutes=37 * i),
            "rejected_reason": "",
        }
        for i in range(1, N_BATCHES + 1)
    ]
    db.session.execute(insert(Batch), batches)
    rows = []
    for batch_id in range(1, N_BATCHES + 1):
        for _ in range(PER_BATCH):
            contact = rnd.randint(1, N_CONTACTS)
            rows.append(
                {
                    "batch_id": batch_id,
                    "party_id": 1 + contact % 200,
                    "contact_id": contact,
                    "recipient_email": f"c{contact}@cliente.it",
                    "recipient_name": f"Contatto {contact}",
                    "privacy_level": 0,
                    "status": rnd.choice(STATUSES),
                    "warnings": [],
                    "extra_headers": {},
                }
            )
        if len(rows) >= 20_000:
            db.session.execute(insert(Delivery), rows)
            rows = []
    if rows:
        db.session.execute(insert(Delivery), rows)
    create_user(
        "tutti",
        PASSWORD,
        full_name="Responsabile",
        roles=["manager"],
        clearance=3,
        send_types=sorted({c for combo in COMBOS for c in combo}),
    )
    create_user(
        "soloddt", PASSWORD, full_name="Responsabile DDT", roles=["manager"], clearance=1, send_types=["DDT"]
    )
    db.session.commit()
    db.session.execute(db.text("ANALYZE"))
    db.session.commit()
    print(f"Database creato in {time.perf_counter() - started:.1f} s: {DB_URL}")


def main() -> None:
    """Build, log in as each user, time the pages, count the statements, print the figures."""
    from sqlalchemy import event

    from mailer import create_app
    from mailer.config import TestConfig
    from mailer.extensions import db

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=DB_URL, WTF_CSRF_ENABLED=False, TESTING=False)
    app = create_app(config)
    with app.app_context():
        build()
        engine = db.engine
    statements = [0]

    def count(*args, **kwargs):
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    figures: dict = {}
    for username in ("tutti", "soloddt"):
        client = app.test_client()
        if client.post("/auth/login", data={"username": username, "password": PASSWORD}).status_code != 302:
            raise SystemExit(f"login di {username} non riuscito")
        first = client.get("/invii/").get_data(as_text=True)
        pages = int(first.split(" di ", 1)[1].split("<", 1)[0]) if "pagina 1 di " in first else 1
        urls = [
            "/invii/",
            f"/invii/?page={max(1, pages // 2)}",
            f"/invii/?page={pages}",
            "/invii/?stato=done",
            "/",
        ]
        timings, per_request = [], set()
        for _ in range(8):
            for url in urls:
                statements[0] = 0
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code}")
                per_request.add((url.split("?")[0], statements[0]))
        median, p95 = statistics.median(timings), percentile(timings, 95)
        most = max(n for _, n in per_request)
        print(
            f"{username:<8} pagine {pages:4d}  n={len(timings)}  mediana {median:6.1f} ms  p95 {p95:6.1f} ms  "
            f"istruzioni SQL per richiesta ≤ {most}"
        )
        figures[username] = {
            "pages": pages,
            "median_ms": round(median, 1),
            "p95_ms": round(p95, 1),
            "max_statements": most,
        }
    print(json.dumps({"batch_list": figures}))


if __name__ == "__main__":
    main()
