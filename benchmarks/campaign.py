"""Preparation of a commercial campaign to BENCH_CAMPAIGN_CONTACTS (default 100,000) contacts.

Builds (once; reused by later runs) BENCH_CAMPAIGN_CONTACTS contacts of customers, 5 per party, with
Core bulk inserts: most with marketing consent, some without (left out as "no consent"), some
opted out, some PEC addresses, some duplicated addresses, so every exclusion rule runs. A shared
filter "all customers" selects all of them. Then the campaign is created the way the product does
it (`campaigns.create_campaign`, which enqueues the real `prepare_campaign_job`) and the job is run by
a real `flask --app app worker` process on a private Redis, started warm before the clock starts
(the worker is an rq SimpleWorker: the job runs in that process, so its memory is the worker's).

Measured: wall time from the enqueue to the batch leaving "preparing", the worker's peak resident
memory (VmHWM of /proc/<pid>/status, read before it is stopped; its RSS at start is printed too),
the deliveries made and the contacts left out.
Goals (issue 19, PostgreSQL): preparation <= 60 s, worker peak < 300 MB.

Usage: .venv/bin/python benchmarks/campaign.py [--db /tmp/recapito-bench-campaign.db]
       BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_campaign for PostgreSQL
       (the database must be empty or hold this benchmark's data); BENCH_CAMPAIGN_CONTACTS for the size.
Also the CPU seconds the worker and its PostgreSQL server processes used (on a shared machine the wall
time grows with the load; the CPU time does not) and the 1-minute load at the end.
The last line is one JSON object: database, contacts, deliveries, excluded, prepare_s, worker_peak_mb,
worker_start_mb, worker_cpu_s, postgres_cpu_s, load_1min.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.benchdb import database_url, kind  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CAMPAIGN_CONTACTS", 100_000))
PER_PARTY = 5
SECRET = "bench-secret-key-0123456789abcdef0123456789"
BODY = (
    "<p>Gentile {{ contatto.nome }},</p>\n"
    "<p>{{ anagrafica.ragione_sociale }} ({{ anagrafica.citta }}) riceve in anteprima il nostro "
    "{{ campagna.nome }}.</p>\n<p>Cordiali saluti,<br>{{ utente.nome }}</p>"
)


def build(n: int, echo) -> None:
    """Fill the migrated database with n contacts of n / PER_PARTY customers (Core bulk inserts)."""
    from datetime import datetime

    from mailer.extensions import db
    from mailer.models import Contact, Party

    now = datetime.now().replace(microsecond=0)
    conn = db.session.connection()
    parties = (n + PER_PARTY - 1) // PER_PARTY
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = [
        {
            "id": i,
            "erp_code": f"C{i:06d}",
            "kind": "customer",
            "name": f"Cliente {i:06d} S.r.l.",
            "vat_number": "",
            "tax_code": "",
            "address": f"Via Roma {i % 200}",
            "zip_code": "20100",
            "city": f"Città {i % 400}",
            "province": "MI",
            "country": "IT",
            "language": "it",
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(1, parties + 1)
    ]
    for start in range(0, len(rows), 20_000):
        conn.execute(Party.__table__.insert(), rows[start : start + 20_000])
    batch: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        batch.append(
            {
                "id": i,
                "party_id": 1 + (i - 1) // PER_PARTY,
                "erp_code": "",
                "name": f"Mario Rossi {i}",
                "phone": "",
                # one address in 200 repeats the previous contact's (left out as a duplicate)
                "email": f"c{i - 1 if i % 200 == 7 else i}@example.com",
                "is_pec": i % 97 == 0,
                "pec_flag_manual": False,
                "from_inipec": False,
                "privacy_level": 0,
                "marketing_consent": i % 20 != 0,
                "opted_out_at": now if i % 101 == 0 else None,
                "consent_source": "",
                "bounce_count": 0,
                "notes": "",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) == 20_000:
            conn.execute(Contact.__table__.insert(), batch)
            batch = []
    if batch:
        conn.execute(Contact.__table__.insert(), batch)
    db.session.commit()
    db.session.connection().exec_driver_sql("ANALYZE")
    db.session.commit()
    echo(f"{parties} anagrafiche, {n} contatti: {time.perf_counter() - t0:.1f} s")


def _status_kb(pid: int, field: str) -> int:
    """A VmXXX field of /proc/<pid>/status in kB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_backend_cpu_s() -> float:
    """CPU seconds of this database's other server processes (the worker's connections), when the
    PostgreSQL server runs on this machine; 0 on SQLite."""
    from mailer.extensions import db

    if db.engine.dialect.name != "postgresql":
        return 0.0
    pids = db.session.scalars(
        db.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ).all()
    return sum(_cpu_s(pid) for pid in pids)


def setup_campaign_world() -> tuple[int, int, int]:
    """(user id, filter id, account id): a sales user, a shared customers filter, an ordinary account."""
    from mailer.extensions import db
    from mailer.models import MailAccount, SavedFilter, User
    from mailer.services.users import create_user

    user = db.session.scalar(db.select(User).where(User.username == "bench"))
    if user is None:
        user = create_user(
            "bench",
            "bench-password-123456",
            full_name="Giulia Bench",
            roles=["sales"],
            clearance=3,
            send_types=["GENERICO"],
        )
    flt = db.session.scalar(db.select(SavedFilter).where(SavedFilter.name == "Tutti i clienti"))
    if flt is None:
        flt = SavedFilter(
            name="Tutti i clienti", conditions=[{"type": "kind", "value": "customer"}], shared=True
        )
        flt.owner_id = user.id
        db.session.add(flt)
    account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "Commerciale"))
    if account is None:
        account = MailAccount(
            name="Commerciale",
            kind="smtp",
            host="127.0.0.1",
            port=2525,
            tls_mode="none",
            from_address="vendite@azienda.example",
            from_name="Azienda",
            max_connections=2,
        )
        db.session.add(account)
    db.session.commit()
    return user.id, flt.id, account.id


def main() -> None:
    """Build (once), start a warm worker, prepare the campaign and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/recapito-bench-campaign.db")
    args = parser.parse_args()
    url = database_url(args.db)
    from flask_migrate import upgrade
    from rq import Worker

    from mailer import create_app
    from mailer.extensions import db
    from mailer.models import Batch, Contact, Delivery, User
    from mailer.queue import get_redis
    from mailer.services import campaigns
    from mailer.services.reference import ensure_reference_data
    from tests.support.services import PrivateRedis

    work = Path(tempfile.mkdtemp(prefix="recapito-bench-campaign-"))
    redis = PrivateRedis(str(work)).start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(work / "instance"),
        "PUBLIC_BASE_URL": "https://recapito.azienda.example",
        "PYTHONPATH": str(ROOT),
    }
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(work / "instance"),
        "PUBLIC_BASE_URL": "https://recapito.azienda.example",
    }
    worker = None
    try:
        app = create_app(config)
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            ensure_reference_data()
            have = db.session.scalar(db.select(db.func.count(Contact.id)))
            if have != CONTACTS:
                if have:
                    raise SystemExit(
                        f"il database ha {have} contatti, non {CONTACTS}: usa un database vuoto (o --db nuovo)"
                    )
                print(f"costruzione dei dati su {kind(url)} (una volta sola)…", flush=True)
                build(CONTACTS, lambda m: print("  " + m, flush=True))
            # Earlier runs' deliveries would only make the tables bigger.
            db.session.execute(
                Delivery.__table__.delete().where(
                    Delivery.batch_id.in_(db.select(Batch.id).where(Batch.kind == "campaign"))
                )
            )
            db.session.commit()
            user_id, filter_id, account_id = setup_campaign_world()
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "worker", "--without-scheduler"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(work / "worker.log", "wb"),  # noqa: SIM115 — closed with the process
            )
            deadline = time.monotonic() + 60
            while not Worker.all(connection=get_redis()) and time.monotonic() < deadline:
                time.sleep(0.1)  # warm before the clock starts, as in production
            if worker.poll() is not None:
                raise RuntimeError("il worker non è partito: " + (work / "worker.log").read_text()[-2000:])
            start_mb = _status_kb(worker.pid, "VmRSS") / 1024
            start_cpu = _cpu_s(worker.pid)
            user = db.session.get(User, user_id)
            assert user is not None
            started = time.perf_counter()
            campaign = campaigns.create_campaign(
                user,
                name="Listino 2027",
                filter_id=filter_id,
                document_ids=[],
                subject="Il listino 2027 per {{ anagrafica.ragione_sociale }}",
                body_html=BODY,
                commercial=True,
                account_id=account_id,
                base_url="https://recapito.azienda.example",
            )
            batch_id = campaign.batch_id
            while True:
                db.session.remove()
                status = db.session.scalar(db.select(Batch.status).where(Batch.id == batch_id))
                if status != "preparing":
                    break
                if worker.poll() is not None:
                    raise RuntimeError("il worker si è fermato: " + (work / "worker.log").read_text()[-2000:])
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            peak_mb = _status_kb(worker.pid, "VmHWM") / 1024
            worker_cpu = _cpu_s(worker.pid) - start_cpu
            db.session.remove()
            postgres_cpu = _postgres_backend_cpu_s()
            load = os.getloadavg()[0]
            batch = db.session.get(Batch, batch_id)
            assert batch is not None
            made = db.session.scalar(
                db.select(db.func.count(Delivery.id)).where(
                    Delivery.batch_id == batch_id, Delivery.status == "pending"
                )
            )
            params = batch.params or {}
            excluded = {k: sum(v.values()) for k, v in (params.get("exclusions") or {}).items()}
            print(f"database: {kind(url)}; contatti nel filtro: {params.get('segment_contacts')}")
            print(f"preparazione: {elapsed:.1f} s, stato {status} {batch.error or ''}".rstrip())
            print(f"recapiti creati: {made}; lasciati fuori: {excluded}")
            print(f"worker: {start_mb:.0f} MB all'avvio, picco {peak_mb:.0f} MB")
            server = f", server PostgreSQL {postgres_cpu:.1f} s" if url.startswith("postgresql") else ""
            print(f"CPU usata: worker {worker_cpu:.1f} s{server} (carico a 1 minuto alla fine: {load:.1f})")
            result: dict[str, Any] = {
                "database": kind(url),
                "contacts": params.get("segment_contacts"),
                "deliveries": made,
                "excluded": sum(excluded.values()),
                "prepare_s": round(elapsed, 1),
                "worker_peak_mb": round(peak_mb, 1),
                "worker_start_mb": round(start_mb, 1),
                "worker_cpu_s": round(worker_cpu, 1),
                "postgres_cpu_s": round(postgres_cpu, 1),
                "load_1min": round(load, 1),
            }
            if status != "ready":
                result["error"] = f"stato {status}: {batch.error}"
            print(json.dumps(result))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
