"""Each page of `load.py` alone: what it costs with nobody else on the machine (issue 19).

`load.py` measures the pages under load, where each costs several times what it costs alone (the same CPUs
run the database, the sending workers, the relay and the clients). This script says what each costs alone,
on the same data: demo data plus a batch of PAGES_MESSAGES (default 20,000) invoices, half of them sent and
the rest queued, the batch in state «sending» (as in the middle of `load.py`'s run), the tables vacuumed
and analysed on PostgreSQL. The app is `app.py`'s (production settings: counts of a sending batch kept
BATCH_COUNTS_SECONDS, the collector frozen after start-up), signed in as the demo manager through the
login form, asked PAGES_RUNS (default 15) times for each page in turn, in process (no HTTP, no other
clients).

Printed: per page the median and fastest time and the median CPU of this process (Flask, SQLAlchemy,
Jinja: the database's own CPU is in PostgreSQL's processes), then one JSON line {page: median ms, ...,
"mean_ms"}. BENCH_DATABASE_URL: PostgreSQL (a scratch database next to it, dropped at the end); default a
SQLite file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = int(os.environ.get("PAGES_MESSAGES", 20_000))
RUNS = int(os.environ.get("PAGES_RUNS", 15))
SECRET = "pages-secret-key-0123456789abcdef0123456789abcdef"


def half_sent(batch_id: int) -> None:
    """The batch in the middle of its sending: every other delivery sent a moment ago, the rest queued."""
    from sqlalchemy import String, cast, literal

    from mailer.extensions import db
    from mailer.models import Batch, Delivery, utcnow

    now = utcnow()
    ids = list(db.session.scalars(db.select(Delivery.id).where(Delivery.batch_id == batch_id)))
    sent = ids[::2]
    for start in range(0, len(sent), 2000):
        chunk = sent[start : start + 2000]
        db.session.execute(
            db.update(Delivery)
            .where(Delivery.id.in_(chunk))
            .values(
                status="sent", sent_at=now, message_id=literal("<p") + cast(Delivery.id, String) + "@load>"
            )
        )
    db.session.execute(
        db.update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.status == "pending")
        .values(status="queued")
    )
    db.session.execute(db.update(Batch).where(Batch.id == batch_id).values(status="sending"))
    db.session.commit()


def main() -> None:
    """Build the data, time each page, print."""
    from benchmarks.benchdb import kind, scratch_database
    from benchmarks.load import app_environment, build_batch, prepare_database, round_of_pages, vacuum_analyze
    from tests.support.services import PrivateRedis, free_port

    work = Path(tempfile.mkdtemp(prefix="recapito-bench-pages-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)  # last: after Redis and the database
        redis = PrivateRedis(str(work)).start()
        stack.callback(redis.stop)
        db_url = stack.enter_context(scratch_database(work / "pages.db"))
        env = app_environment(db_url, redis.url, work, SECRET)
        os.environ.update(env)  # read by app.py's create_app() below, as in production
        os.environ.pop("RECAPITO_ENV", None)
        t0 = time.perf_counter()
        import app as wsgi  # app.py: the production app object, its settings and collector tuning
        from mailer.extensions import db
        from mailer.models import Party

        with wsgi.app.app_context():
            prepare_database(env)
            batch_id, party_ids = build_batch(free_port(), MESSAGES)
            half_sent(batch_id)
            vacuum_analyze(db_url)
            party_id = party_ids[3] if len(party_ids) > 3 else db.session.scalar(db.select(Party.id))
        print(f"dati: demo + {MESSAGES} recapiti (metà inviati) in {time.perf_counter() - t0:.1f} s")

        client = wsgi.app.test_client()
        form = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        answer = client.post(
            "/auth/login",
            data={"username": "manager", "password": "demo", "csrf_token": token.group(1) if token else ""},
        )
        if answer.status_code != 302:
            raise SystemExit(f"login failed: HTTP {answer.status_code}")

        medians: dict[str, float] = {}
        print(f"{kind(db_url)}, {RUNS} volte ogni pagina, da sola")
        print(f"{'pagina':16s} {'mediana ms':>11s} {'min ms':>8s} {'CPU ms':>8s}")
        for name, path, headers in round_of_pages(batch_id, party_id, "rossi"):
            wall, cpu = [], []
            for _ in range(RUNS):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(path, headers=headers)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                if response.status_code not in (200, 286):
                    raise SystemExit(f"{name} {path}: HTTP {response.status_code}")
            medians[name] = round(statistics.median(wall), 1)
            print(f"{name:16s} {medians[name]:11.1f} {min(wall):8.1f} {statistics.median(cpu):8.1f}")
        medians["mean_ms"] = round(statistics.mean(medians.values()), 1)
        print(
            json.dumps(
                {**medians, "database": kind(db_url), "messages": MESSAGES, "load": os.getloadavg()[0]}
            )
        )
        with wsgi.app.app_context():
            db.engine.dispose()  # before the scratch database is dropped


if __name__ == "__main__":
    main()
