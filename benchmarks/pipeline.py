"""Benchmark of the sending pipeline against a local SMTP sink.

In one run, on the same messages (each with its PDF already stored):
- raw: smtplib on one reused connection (messages built beforehand, only sending is timed);
- naive: one forked RQ job per message, each opening a new SMTP connection through Flask-Mail
  (timed on BENCH_NAIVE messages, default 500: at ~90 forks/s the full set would take minutes);
- pipeline: Recapito's real path — start_sending, RQ workers (`flask worker --burst`, BENCH_WORKERS of
  them, started warm: production workers are long-lived), claims and marks in the database, connection reuse — on BENCH_MESSAGES (default 10,000).
Also the peak memory of the pipeline workers, and the time to prepare a batch of BENCH_PREPARE
(default 10,000) documents whose PDFs must still be rendered (set BENCH_PREPARE=0 to skip).

The last line is one JSON object: pipeline_msgs_per_s, raw_msgs_per_s, naive_msgs_per_s, ratio_raw,
ratio_naive, worker_peak_mb, prepare_10k_s.
Goals: pipeline >= 0.5 x raw, >= 5 x naive, worker peak < 300 MB, preparation of 10,000 < 180 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_MESSAGES", 10_000))
NAIVE_N = int(os.environ.get("BENCH_NAIVE", 500))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
PREPARE_N = int(os.environ.get("BENCH_PREPARE", 10_000))
SECRET = "bench-secret-key-0123456789abcdef0123456789"


def _pdf(i: int) -> bytes:
    """A small but real-sized PDF-like attachment (about 14 KB), different for every document."""
    body = hashlib.sha256(str(i).encode()).hexdigest().encode() * 220
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + body + b"\n%%EOF\n"


def setup_data(app, sink_port: int, n: int):
    """An ordinary account on the sink and an approved batch of n deliveries with stored PDFs."""
    from sqlalchemy import insert

    from mailer.extensions import db
    from mailer.models import Batch, Blob, Contact, Delivery, Document, MailAccount, Party, delivery_documents

    account = MailAccount(
        name="Sink",
        kind="smtp",
        host="127.0.0.1",
        port=sink_port,
        tls_mode="none",
        from_address="fatture@azienda.example",
        from_name="Azienda",
        max_connections=WORKERS,
        rate_per_minute=10_000_000,
        rate_per_day=100_000_000,
        is_default=True,
    )
    db.session.add(account)
    batch = Batch(kind="documents", name="Benchmark", status="approved", type_codes=["FATTURA"])
    db.session.add(batch)
    db.session.flush()
    step = 2000
    for start in range(0, n, step):
        ids = range(start, min(n, start + step))
        db.session.execute(
            insert(Party),
            [
                {"id": i + 1, "erp_code": f"B{i:06d}", "name": f"Cliente {i} S.r.l.", "kind": "customer"}
                for i in ids
            ],
        )
        db.session.execute(
            insert(Contact),
            [
                {
                    "id": i + 1,
                    "party_id": i + 1,
                    "name": f"Amministrazione {i}",
                    "email": f"amm{i}@cliente.example",
                }
                for i in ids
            ],
        )
        blobs = [_pdf(i) for i in ids]
        db.session.execute(
            insert(Blob),
            [
                {
                    "sha256": hashlib.sha256(b).hexdigest(),
                    "size": len(b),
                    "content_type": "application/pdf",
                    "data": b,
                }
                for b in blobs
            ],
        )
        db.session.execute(
            insert(Document),
            [
                {
                    "id": i + 1,
                    "type_code": "FATTURA",
                    "number": f"{i + 1}",
                    "year": 2026,
                    "date": date(2026, 11, 28),
                    "party_id": i + 1,
                    "total": 122,
                    "pdf_sha256": hashlib.sha256(b).hexdigest(),
                }
                for i, b in zip(ids, blobs, strict=True)
            ],
        )
        db.session.execute(
            insert(Delivery),
            [
                {
                    "id": i + 1,
                    "batch_id": batch.id,
                    "party_id": i + 1,
                    "contact_id": i + 1,
                    "recipient_email": f"amm{i}@cliente.example",
                    "recipient_name": f"Amministrazione {i}",
                    "account_id": account.id,
                    "account_reason": "Ordinario",
                    "status": "pending",
                    "subject": f"Fattura n. {i + 1} del 28/11/2026",
                    "body_text": f"Gentile cliente,\nin allegato la fattura n. {i + 1} del 28/11/2026 di 122,00 €.\n",
                    "body_html": f"<p>Gentile cliente,</p><p>in allegato la fattura n. {i + 1} del 28/11/2026 di 122,00 €.</p>",
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(delivery_documents), [{"delivery_id": i + 1, "document_id": i + 1} for i in ids]
        )
        db.session.commit()
    return batch.id, account.id


def raw_baseline(app, sink_port: int, batch_id: int, account_id: int, n: int) -> float:
    """smtplib on one reused connection; returns messages per second."""
    from mailer.extensions import db
    from mailer.models import Delivery, MailAccount
    from mailer.services.sending import message_spec
    from mailer.transport.message import build_message

    account = db.session.get(MailAccount, account_id)
    assert account is not None
    messages = []
    for delivery in db.session.scalars(
        db.select(Delivery).where(Delivery.batch_id == batch_id).order_by(Delivery.id).limit(n)
    ):
        delivery.message_id = f"<raw{delivery.id}@azienda.example>"
        delivery.message_date = "Sat, 28 Nov 2026 10:00:00 +0100"
        messages.append((delivery.recipient_email, build_message(message_spec(delivery, account))))
    db.session.rollback()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink_port) as conn:
        for rcpt, data in messages:
            conn.sendmail("fatture@azienda.example", [rcpt], data)
    return len(messages) / (time.perf_counter() - started)


def naive_baseline(env: dict, batch_id: int, n: int, redis_url: str) -> float:
    """One forked RQ job per message, each with a new Flask-Mail connection; messages per second."""
    from redis import Redis
    from rq import Queue

    queue = Queue("naive", connection=Redis.from_url(redis_url))
    for i in range(1, n + 1):
        queue.enqueue("benchmarks.pipeline_naive.send_one", i)
    started = time.perf_counter()
    # A forking rq Worker; the job module (and its app) is imported once in the parent, so each
    # job pays a fork and a new SMTP connection, not an interpreter start.
    script = (
        "import logging, sys; from redis import Redis; from rq import Queue, Worker; "
        "import benchmarks.pipeline_naive; r = Redis.from_url(sys.argv[1]); "
        "Worker([Queue('naive', connection=r)], connection=r).work(burst=True, logging_level='WARNING')"
    )
    subprocess.run([sys.executable, "-c", script, redis_url], cwd=ROOT, env=env, check=True)
    return n / (time.perf_counter() - started)


def _rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pipeline(app, env: dict, batch_id: int) -> tuple[float, float, int]:
    """Recapito's real pipeline with warm workers; returns (messages per second, worker peak MB, sent)."""
    from rq import Worker

    from mailer.extensions import db
    from mailer.models import Batch, Delivery
    from mailer.queue import get_redis
    from mailer.services.sending import start_sending

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "worker", "--without-scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=get_redis())) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)  # workers are warm before the clock starts, as in production
        batch = db.session.get(Batch, batch_id)
        assert batch is not None
        started = time.perf_counter()
        start_sending(batch)
        peak = 0.0
        while True:
            peak = max([peak] + [_rss_mb(w.pid) for w in workers])
            db.session.remove()
            if db.session.scalar(db.select(Batch.status).where(Batch.id == batch_id)) != "sending":
                break
            if all(w.poll() is not None for w in workers):
                raise RuntimeError("i worker si sono fermati prima della fine dell'invio")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
    sent = db.session.scalar(
        db.select(db.func.count(Delivery.id)).where(Delivery.batch_id == batch_id, Delivery.status == "sent")
    )
    return sent / elapsed, peak, sent


def prepare_benchmark(app, n: int) -> float:
    """Seconds to prepare a batch of n invoices whose PDFs must still be rendered."""
    from decimal import Decimal

    from sqlalchemy import insert

    from mailer.extensions import db
    from mailer.models import Contact, Document, DocumentLine, DocumentType, Party, contact_document_types
    from mailer.services import preparation
    from mailer.services.users import create_user

    base = 1_000_000
    db.session.execute(
        insert(Party),
        [
            {
                "id": base + i,
                "erp_code": f"P{i:06d}",
                "name": f"Cliente Prep {i} S.p.A.",
                "kind": "customer",
                "city": "Bergamo",
                "province": "BG",
            }
            for i in range(n)
        ],
    )
    db.session.execute(
        insert(Contact),
        [
            {
                "id": base + i,
                "party_id": base + i,
                "name": "Amministrazione",
                "email": f"prep{i}@cliente.example",
            }
            for i in range(n)
        ],
    )
    db.session.execute(
        insert(contact_document_types),
        [{"contact_id": base + i, "document_type_code": "NOTA_CREDITO"} for i in range(n)],
    )
    db.session.execute(
        insert(Document),
        [
            {
                "id": base + i,
                "type_code": "NOTA_CREDITO",
                "number": f"NC{i}",
                "year": 2026,
                "date": date(2026, 11, 27),
                "party_id": base + i,
                "total_net": Decimal("1000.00"),
                "total_vat": Decimal("220.00"),
                "total": Decimal("1220.00"),
                "due_dates": [],
            }
            for i in range(n)
        ],
    )
    db.session.execute(
        insert(DocumentLine),
        [
            {
                "document_id": base + i,
                "line_no": k,
                "product_code": f"ART-{k:03d}",
                "description": f"Articolo {k}",
                "quantity": Decimal("2"),
                "unit": "PZ",
                "unit_price": Decimal("25"),
                "vat_rate": Decimal("22"),
                "amount": Decimal("50"),
            }
            for i in range(n)
            for k in range(1, 21)
        ],
    )
    db.session.commit()
    user = create_user(
        "bench", "bench-password-123", roles=["operator"], clearance=3, send_types=["NOTA_CREDITO"]
    )
    db.session.commit()
    assert db.session.get(DocumentType, "NOTA_CREDITO")
    started = time.perf_counter()
    batch = preparation.create_batch(
        preparation.Selection(
            type_codes=["NOTA_CREDITO"], date_from=date(2026, 11, 27), date_to=date(2026, 11, 27)
        ),
        user,
        enqueue=False,
    )
    batch = preparation.run_preparation(batch.id)
    elapsed = time.perf_counter() - started
    assert batch.status == "ready", batch.error
    return elapsed


def main() -> None:
    """Run the three measurements and print the figures."""
    from flask_migrate import upgrade

    from mailer import create_app
    from mailer.services.reference import ensure_reference_data
    from tests.support.services import PrivateRedis, free_port, wait_port

    work = Path(tempfile.mkdtemp(prefix="recapito-bench-pipeline-"))
    redis = PrivateRedis(str(work)).start()
    sink_port = free_port()
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{sink_port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(sink_port)
        db_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
        config = {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "REDIS_URL": redis.url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(work / "instance"),
        }
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis.url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(work / "instance"),
            "BENCH_SINK_PORT": str(sink_port),
            "PYTHONPATH": str(ROOT),
        }
        app = create_app(config)
        with app.app_context():
            upgrade()
            ensure_reference_data()
            t0 = time.perf_counter()
            batch_id, account_id = setup_data(app, sink_port, N)
            print(f"dati: {N} recapiti con PDF in {time.perf_counter() - t0:.1f} s")
            raw = raw_baseline(app, sink_port, batch_id, account_id, N)
            print(f"raw (smtplib, una connessione): {raw:.0f} msg/s")
            naive = naive_baseline(env, batch_id, min(NAIVE_N, N), redis.url)
            print(
                f"naive (Flask-Mail + un job RQ per messaggio, {min(NAIVE_N, N)} messaggi): {naive:.1f} msg/s"
            )
            rate, peak, sent = pipeline(app, env, batch_id)
            print(
                f"pipeline ({WORKERS} worker): {rate:.0f} msg/s, {sent} inviati, picco memoria worker {peak:.0f} MB"
            )
            prepare_s = None
            if PREPARE_N:
                prepare_s = prepare_benchmark(app, PREPARE_N)
                print(f"preparazione di {PREPARE_N} documenti con PDF da generare: {prepare_s:.1f} s")
        result: dict[str, Any] = {
            "pipeline_msgs_per_s": round(rate, 1),
            "raw_msgs_per_s": round(raw, 1),
            "naive_msgs_per_s": round(naive, 1),
            "ratio_raw": round(rate / raw, 2),
            "ratio_naive": round(rate / naive, 1),
            "worker_peak_mb": round(peak, 1),
            "prepare_10k_s": round(prepare_s, 1) if prepare_s is not None else None,
        }
        if sent != N:
            result["error"] = f"inviati {sent} su {N}"
        print(json.dumps(result))
    finally:
        sink.terminate()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
