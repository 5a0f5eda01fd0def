"""Scale-out of sending: one batch sent by 1 worker process, then by 4 (as on separate hosts), then by 4
with one of them killed (SIGKILL) in the middle.

Set-up: a scratch PostgreSQL database, created next to BENCH_DATABASE_URL (without it, on the local test
server postgresql+psycopg://postgres@127.0.0.1:5432 when it answers; SQLite otherwise) and dropped at the end,
a private Redis on a free port, and an SMTP sink on loopback that waits BENCH_SMTP_LATENCY_MS (default 40)
before each reply to DATA and records the Message-ID of every message it accepts. One account allowing
8 connections; BENCH_MESSAGES deliveries (default 20,000) per run, each with an invoice PDF (~14 KB).
Each worker is its own `flask --app app worker` process.

The last line is one JSON object: one_worker_msgs_per_s, four_workers_msgs_per_s, scale, duplicates,
lost, db_connections_peak, one_worker_smtp_connections_peak / four_workers_smtp_connections_peak (as the
sink counts them: a worker process runs one sender job at a time, so 1 worker sends over 1 of the
account's 8 connections and 4 workers over 4 — the same as in production, where the 8 are a ceiling
shared by all hosts, not a number each process opens), kill_duplicates, kill_uncertain, kill_lost, kill_sending_at_kill (deliveries of any worker
"sending" when the worker died), load_1min_before/after.
BENCH_RUNS chooses the runs (default "one,four,kill"; "one,four" for the long comparison alone): the JSON
then holds the figures of the runs made.
Goals: scale >= 3.2, duplicates 0, lost 0; after the kill no duplicates and only the in-flight ones uncertain.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_MESSAGES", 20_000))
LATENCY = float(os.environ.get("BENCH_SMTP_LATENCY_MS", 40)) / 1000
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 8))
WORKER_NICE = os.environ.get("BENCH_WORKER_NICE", "0")
HEARTBEAT = int(os.environ.get("BENCH_HEARTBEAT_SECONDS", 10))
# Which runs, in order (one, four, kill): e.g. "one,four" for the long 20,000-message comparison alone.
RUNS = [name.strip() for name in os.environ.get("BENCH_RUNS", "one,four,kill").split(",") if name.strip()]
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
PDFS = 50  # distinct PDFs, shared by the documents (the sender caches them, as with real repeated files)
MSGID_DELIVERY = re.compile(rb"Message-ID:\s*<[^>]*\brcp(\d+)@", re.IGNORECASE)


class LatencySink:
    """SMTP sink on loopback, in its own process (as a remote server would be): waits `latency` s before
    answering DATA and appends the delivery id of every accepted message (the rcp<id> part of its
    Message-ID, the same on every attempt) to a file, one line each."""

    def __init__(self, port: int, latency: float, record: Path):
        self.port = port
        self.record = record
        self.record.touch()
        self.connections = record.with_name(record.name + ".connections")
        self.connections.touch()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port), str(latency), str(record)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def accepted(self) -> Counter[int]:
        """Accepted messages per delivery id (0 = no delivery id in the Message-ID)."""
        lines = self.record.read_bytes().splitlines()
        return Counter(int(line) for line in lines if line.strip())

    def total(self) -> int:
        """Messages accepted so far."""
        return self.record.read_bytes().count(b"\n")

    def connections_mark(self) -> int:
        """Where the record of SMTP connections stands now (for connections_since)."""
        return self.connections.stat().st_size

    def connections_since(self, mark: int) -> tuple[int, int]:
        """SMTP connections opened since `mark`, and the most open at once meanwhile."""
        with open(self.connections, "rb") as f:
            f.seek(mark)
            open_now = [int(line) for line in f.read().splitlines() if line.strip()]
        return len(open_now), max(open_now, default=0)

    def stop(self) -> None:
        """Stop the sink process."""
        self.proc.terminate()
        self.proc.wait(10)


def run_sink(port: int, latency: float, record: str) -> None:
    """The sink process: aiosmtpd, one asyncio loop, every DATA answered after `latency` s."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    out = open(record, "ab", buffering=0)  # noqa: SIM115 (open for the life of the process)
    opened = open(record + ".connections", "ab", buffering=0)  # noqa: SIM115 (same)
    open_now = [0]

    class CountingSMTP(SMTP):
        """Records, at each new connection, how many are open (the senders' connections, as a relay sees them)."""

        def connection_made(self, transport):
            """Count it in."""
            super().connection_made(transport)
            open_now[0] += 1
            opened.write(b"%d\n" % open_now[0])

        def connection_lost(self, exc):
            """Count it out."""
            super().connection_lost(exc)
            open_now[0] -= 1

    class CountingController(Controller):
        """aiosmtpd's controller with the counting server."""

        def factory(self):
            """The counting server."""
            return CountingSMTP(self.handler, **self.SMTP_kwargs)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            """Wait, record, accept."""
            await asyncio.sleep(latency)
            found = MSGID_DELIVERY.search((envelope.original_content or b"").split(b"\r\n\r\n", 1)[0])
            out.write(b"%d\n" % (int(found.group(1)) if found else 0))
            return "250 2.0.0 OK queued"

    controller = CountingController(Handler(), hostname="127.0.0.1", port=port, server_hostname="sink.bench")
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pdf(i: int) -> bytes:
    """A PDF-like attachment of about 14 KB."""
    body = hashlib.sha256(str(i).encode()).hexdigest().encode() * 220
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + body + b"\n%%EOF\n"


def make_account(port: int) -> int:
    """The account on the sink: CONNECTIONS connections, no effective rate limit."""
    from mailer.extensions import db
    from mailer.models import Blob, MailAccount

    account = MailAccount(
        name="Sink",
        kind="smtp",
        host="127.0.0.1",
        port=port,
        tls_mode="none",
        from_address="fatture@azienda.example",
        from_name="Azienda",
        max_connections=CONNECTIONS,
        rate_per_minute=10_000_000,
        rate_per_day=100_000_000,
        is_default=True,
    )
    db.session.add(account)
    for i in range(PDFS):
        data = _pdf(i)
        db.session.add(
            Blob(
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                content_type="application/pdf",
                data=data,
            )
        )
    db.session.commit()
    return account.id


def make_batch(account_id: int, n: int, run: str) -> int:
    """An approved batch of n deliveries, one invoice with its PDF each (Core bulk inserts)."""
    from sqlalchemy import insert

    from mailer.extensions import db
    from mailer.models import Batch, Contact, Delivery, Document, Party, delivery_documents

    shas = [hashlib.sha256(_pdf(i)).hexdigest() for i in range(PDFS)]
    batch = Batch(kind="documents", name=f"Scale-out {run}", status="approved", type_codes=["FATTURA"])
    db.session.add(batch)
    db.session.flush()
    base = batch.id * 1_000_000
    for start in range(0, n, 2000):
        ids = range(base + start, base + min(n, start + 2000))
        db.session.execute(
            insert(Party),
            [{"id": i, "erp_code": f"S{i}", "name": f"Cliente {i} S.r.l.", "kind": "customer"} for i in ids],
        )
        db.session.execute(
            insert(Contact),
            [
                {"id": i, "party_id": i, "name": f"Amministrazione {i}", "email": f"a{i}@cliente.example"}
                for i in ids
            ],
        )
        db.session.execute(
            insert(Document),
            [
                {
                    "id": i,
                    "type_code": "FATTURA",
                    "number": str(i),
                    "year": 2026,
                    "date": date(2026, 11, 28),
                    "party_id": i,
                    "total": 122,
                    "pdf_sha256": shas[i % PDFS],
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(Delivery),
            [
                {
                    "id": i,
                    "batch_id": batch.id,
                    "party_id": i,
                    "contact_id": i,
                    "recipient_email": f"a{i}@cliente.example",
                    "recipient_name": f"Amministrazione {i}",
                    "account_id": account_id,
                    "account_reason": "Ordinario",
                    "status": "pending",
                    "subject": f"Fattura n. {i} del 28/11/2026",
                    "body_text": f"Gentile cliente,\nin allegato la fattura n. {i} del 28/11/2026 di 122,00 €.\n",
                    "body_html": f"<p>Gentile cliente,</p><p>in allegato la fattura n. {i} di 122,00 €.</p>",
                }
                for i in ids
            ],
        )
        db.session.execute(insert(delivery_documents), [{"delivery_id": i, "document_id": i} for i in ids])
    db.session.commit()
    return batch.id


def load_1min() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


class Run:
    """One sending run with `workers` worker processes; samples the database connections meanwhile."""

    def __init__(self, env: dict, workers: int, log_dir: Path, db_name: str | None):
        self.env = env
        self.log_dir = log_dir
        self.count = workers
        self.db_name = db_name
        self.procs: list[subprocess.Popen] = []
        self.connections_peak = 0
        self.cpu_at_start = 0.0

    def start_workers(self) -> None:
        """Start the worker processes and wait until each has registered in Redis (warm, as in production)."""
        from rq import Worker

        from mailer.queue import get_redis

        for n in range(self.count):
            with open(self.log_dir / f"worker-{self.count}-{n}.log", "ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "--app", "app", "worker", "--without-scheduler"],
                        cwd=ROOT,
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 120
        while len(Worker.all(connection=get_redis())) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError("i worker non si sono registrati in 120 s")
            time.sleep(0.1)

    def sample_connections(self) -> None:
        """Connections open on the benchmark's PostgreSQL database (this process's own excluded)."""
        if not self.db_name:
            return
        from mailer.extensions import db

        count = db.session.scalar(
            db.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
            {"d": self.db_name},
        )
        db.session.rollback()
        self.connections_peak = max(self.connections_peak, int(count or 0))

    def stop_workers(self) -> None:
        """SIGTERM every live worker, then wait for it."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def send_batch(
    env, workers: int, batch_id: int, sink: LatencySink, log_dir: Path, db_name, kill_at=None
) -> dict:
    """Send the batch with `workers` processes; with kill_at (a fraction), SIGKILL one worker once that
    share of the batch has been accepted by the sink, then let the watchdog settle its claim."""
    from mailer.extensions import db
    from mailer.models import Batch
    from mailer.services.sending import recover_stalled, start_sending
    from tests.support.faults import batch_counts, batch_status

    run = Run(env, workers, log_dir, db_name)
    run.start_workers()
    before = sink.total()
    smtp_mark = sink.connections_mark()
    sink_cpu_start = cpu_seconds(sink.proc.pid)
    run.cpu_at_start = sum(cpu_seconds(p.pid) for p in run.procs)
    in_flight = killed_at = None
    started = time.perf_counter()
    try:
        start_sending(db.session.get(Batch, batch_id))
        deadline = time.monotonic() + 600 + N / 2  # 2 msg/s at worst: a saturated shared machine
        while batch_status(batch_id) == "sending":
            run.sample_connections()
            if kill_at is not None and killed_at is None and sink.total() - before >= kill_at * N:
                victim = run.procs[1]
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
                killed_at = time.perf_counter()
                in_flight = batch_counts(batch_id).get("sending", 0)
                print(
                    f"  SIGKILL al worker {victim.pid} dopo {sink.total() - before} messaggi; in volo: {in_flight}"
                )
            if killed_at is not None and not batch_counts(batch_id).get("queued"):
                recover_stalled()  # the scheduler's watchdog: claims of dead senders become uncertain
            if time.monotonic() > deadline:
                raise RuntimeError(f"invio non concluso: {batch_counts(batch_id)}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        worker_cpu = sum(cpu_seconds(p.pid) for p in run.procs) - run.cpu_at_start
        sink_cpu = cpu_seconds(sink.proc.pid) - sink_cpu_start
    finally:
        run.stop_workers()
    final = batch_counts(batch_id)
    sent = final.get("sent", 0)
    smtp_opened, smtp_peak = sink.connections_since(smtp_mark)
    return {
        "elapsed": elapsed,
        "rate": sent / elapsed,
        "counts": final,
        "connections_peak": run.connections_peak,
        "smtp_connections_opened": smtp_opened,
        "smtp_connections_peak": smtp_peak,
        "in_flight": in_flight,
        "worker_cpu_ms_per_msg": 1000 * worker_cpu / max(1, sent),
        "sink_cpu_ms_per_msg": 1000 * sink_cpu / max(1, sent),
    }


def check(batch_id: int, sink: LatencySink) -> dict:
    """Duplicates (a delivery accepted more than once), lost (not sent, failed nor uncertain), sent but
    not accepted exactly once, and accepted although neither sent nor uncertain."""
    from mailer.extensions import db
    from mailer.models import Delivery

    db.session.remove()
    accepted = sink.accepted()
    rows = db.session.execute(
        db.select(Delivery.id, Delivery.status).where(Delivery.batch_id == batch_id)
    ).all()
    return {
        "duplicates": sum(1 for did, _s in rows if accepted[did] > 1),
        "lost": sum(1 for _d, status in rows if status not in ("sent", "failed", "uncertain")),
        "sent_not_accepted_once": sum(1 for did, st in rows if st == "sent" and accepted[did] != 1),
        "accepted_not_sent": sum(1 for did, st in rows if st not in ("sent", "uncertain") and accepted[did]),
    }


def main() -> None:
    """Three runs on fresh batches; prints the figures, the last line JSON."""
    from flask_migrate import upgrade

    from benchmarks.benchdb import scratch_database
    from mailer import create_app
    from mailer.services.reference import ensure_reference_data
    from tests.support.services import PrivateRedis, free_port, wait_port

    work = Path(tempfile.mkdtemp(prefix="recapito-bench-scaleout-"))
    redis = PrivateRedis(str(work)).start()
    port = free_port()
    sink = LatencySink(port, LATENCY, work / "accepted.txt")
    cleanup = ExitStack()
    db_url = cleanup.enter_context(scratch_database(work / "bench.db", prefer_postgres=True))
    db_name = urlsplit(db_url).path.lstrip("/") if db_url.startswith("postgresql") else None
    settings = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(work / "instance"),
        "SENDER_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "WORKER_NICE": WORKER_NICE,
    }
    env = {**os.environ, **settings, "PYTHONPATH": str(ROOT)}
    config = {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(work / "instance"),
        "SENDER_HEARTBEAT_SECONDS": HEARTBEAT,
    }
    try:
        wait_port(port)
        app = create_app(config)
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            ensure_reference_data()
            account_id = make_account(port)
            kind = "PostgreSQL" if db_name else "SQLite"
            print(
                f"{N} messaggi per prova, latenza SMTP {LATENCY * 1000:.0f} ms, {CONNECTIONS} connessioni, "
                f"{kind}, carico {load_1min():.1f}"
            )
            load_before = load_1min()
            results = {}
            plan = {"one": (1, None), "four": (4, None), "kill": (4, 0.5)}
            for label, (workers, kill_at) in ((name, plan[name]) for name in RUNS):
                t0 = time.perf_counter()
                batch_id = make_batch(account_id, N, label)
                print(f"{label}: invio preparato in {time.perf_counter() - t0:.1f} s")
                run = send_batch(env, workers, batch_id, sink, work, db_name, kill_at)
                run.update(check(batch_id, sink))
                results[label] = run
                print(
                    f"{label}: {workers} worker, {run['rate']:.1f} msg/s in {run['elapsed']:.1f} s, "
                    f"esiti {run['counts']}, connessioni al database (picco) {run['connections_peak']}, "
                    f"connessioni SMTP (aperte / al massimo insieme) {run['smtp_connections_opened']} / "
                    f"{run['smtp_connections_peak']}, "
                    f"doppi {run['duplicates']}, persi {run['lost']}, CPU a messaggio: worker "
                    f"{run['worker_cpu_ms_per_msg']:.1f} ms, sink {run['sink_cpu_ms_per_msg']:.1f} ms, "
                    f"carico {load_1min():.1f}"
                )
        summary: dict = {
            "messages": N,
            "smtp_latency_ms": round(LATENCY * 1000),
            "database": "postgresql" if db_name else "sqlite",
            "runs": list(results),
        }
        one, four, kill = results.get("one"), results.get("four"), results.get("kill")
        compared = [run for run in (one, four) if run]
        if compared:
            summary |= {
                "duplicates": sum(run["duplicates"] for run in compared),
                "lost": sum(run["lost"] for run in compared),
                "sent_not_accepted_once": sum(run["sent_not_accepted_once"] for run in compared),
                "db_connections_peak": max(run["connections_peak"] for run in compared),
            }
        if one:
            summary |= {
                "one_worker_msgs_per_s": round(one["rate"], 1),
                "one_worker_smtp_connections_peak": one["smtp_connections_peak"],
            }
        if four:
            summary |= {
                "four_workers_msgs_per_s": round(four["rate"], 1),
                "four_workers_smtp_connections_peak": four["smtp_connections_peak"],
                "worker_cpu_ms_per_msg": round(four["worker_cpu_ms_per_msg"], 1),
                "sink_cpu_ms_per_msg": round(four["sink_cpu_ms_per_msg"], 1),
            }
        if one and four:
            summary["scale"] = round(four["rate"] / one["rate"], 2)
        if kill:
            summary |= {
                "kill_duplicates": kill["duplicates"],
                "kill_uncertain": kill["counts"].get("uncertain", 0),
                "kill_sending_at_kill": kill["in_flight"],
                "kill_lost": kill["lost"],
                "kill_accepted_not_sent": kill["accepted_not_sent"],
            }
        summary |= {"load_1min_before": round(load_before, 1), "load_1min_after": round(load_1min(), 1)}
        print(json.dumps(summary))
    finally:
        sink.stop()
        redis.stop()
        cleanup.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        run_sink(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        main()
