"""A real worker process killed with SIGKILL mid-batch: only 'esito incerto' is left to resolve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq import Queue, SimpleWorker

from mailer.extensions import db
from mailer.models import Batch, Delivery
from mailer.queue import get_redis
from mailer.services import sending
from tests.support.batches import make_slow_batch, statuses

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_batch(app_ctx, smtp_server, tmp_path):
    """Kill the worker while it waits for a slow server: nothing is sent twice, nothing is lost."""
    app_ctx.config["SENDER_HEARTBEAT_SECONDS"] = 2
    recipients = [f"c{i:02d}@cliente.example" for i in range(12)]
    batch = make_slow_batch(smtp_server, recipients, 0.8)
    batch_id = batch.id
    sending.start_sending(batch)
    env = {
        **os.environ,
        "DATABASE_URL": app_ctx.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app_ctx.config["REDIS_URL"],
        "SECRET_KEY": app_ctx.config["SECRET_KEY"],
        "SENDER_HEARTBEAT_SECONDS": "2",
        "INSTANCE_PATH": str(tmp_path / "worker-instance"),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--without-scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(smtp_server.messages) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp_server.messages) >= 4, "the worker did not start sending"
        time.sleep(0.35)  # now it is waiting for the reply to the next message
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    db.session.remove()
    mid = statuses(batch_id)
    assert list(mid.values()).count("sending") == 1  # killed inside an SMTP transaction
    time.sleep(2.5)  # the dead sender's heartbeat expires
    report = sending.recover_stalled()
    assert report["uncertain"] == list(mid.values()).count("sending")
    redis = get_redis()
    queue = Queue(app_ctx.config["RQ_QUEUE"], connection=redis)
    for _ in range(3):
        SimpleWorker([queue], connection=redis).work(burst=True)
        db.session.remove()
    time.sleep(1.0)  # let the slow server finish storing what it was given
    final = statuses(batch_id)
    assert set(final.values()) <= {"sent", "uncertain"}
    assert list(final.values()).count("uncertain") == 1
    for address, status in final.items():
        received = smtp_server.accepted_to(address)
        assert received <= 1, f"{address} received {received} times"
        if status == "sent":
            assert received == 1
    assert db.session.get(Batch, batch_id).status == "done"
    uncertain = db.session.scalars(
        db.select(Delivery).where(Delivery.batch_id == batch_id, Delivery.status == "uncertain")
    ).all()
    for d in uncertain:
        assert "potrebbe essere partito" in d.smtp_reason
