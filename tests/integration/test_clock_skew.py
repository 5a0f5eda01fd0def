"""A worker on a host whose clock is a few seconds off (issue 19.3): its claims and heartbeats still hold.

The worker process runs under libfaketime (its wall clock shifted, monotonic time left alone); the test
process, on the true clock, runs the watchdog all the time, as `flask scheduler` on another host would.
The watchdog judges a sender by its heartbeat key's expiry in Redis (Redis' clock), not by the claim's
timestamp written with the worker's clock: a claim that looks old is left alone while its sender beats.
"""

from __future__ import annotations

import libfaketime
import pytest

from mailer.extensions import db
from mailer.models import Batch
from mailer.services import sending
from tests.integration.test_faults_processes import _slow_batch
from tests.support.faults import (
    WorkerProcess,
    batch_counts,
    batch_status,
    check_exactly_once,
    wait_until,
)

HEARTBEAT_SECONDS = 10  # the heartbeat key's lifetime: a beat (every 5 s) plus one message, with room for a
# loaded machine that starves the worker for a few seconds (4 s lapsed there: a real lapse, not the skew)
SKEW_SECONDS = 40  # well beyond it: a check of the claim's timestamp would take every claim for dead


@pytest.fixture
def short_heartbeat(app):
    """Dead senders are noticed after HEARTBEAT_SECONDS; retries do not wait."""
    app.config["SENDER_HEARTBEAT_SECONDS"] = HEARTBEAT_SECONDS
    app.config["SEND_RETRY_BACKOFF"] = "0,0,0"
    return app


@pytest.mark.serial  # timing: a worker starved of CPU by parallel tests misses its heartbeat
@pytest.mark.parametrize("skew", [f"-{SKEW_SECONDS}s", f"+{SKEW_SECONDS}s"], ids=["behind", "ahead"])
def test_worker_with_a_skewed_clock_sends_each_message_once(
    app_ctx, faulty_smtp, short_heartbeat, tmp_path, skew
):
    batch_id, recipients = _slow_batch(faulty_smtp, 8, 0.6)
    sending.start_sending(db.session.get(Batch, batch_id))
    fake = libfaketime.get_reload_information()[1]
    worker = WorkerProcess(app_ctx, tmp_path, FAKETIME=skew, **fake).start()
    uncertain = 0

    def finished():
        nonlocal uncertain
        db.session.remove()
        uncertain += sending.recover_stalled()["uncertain"]  # the watchdog, on the true clock
        return batch_status(batch_id) == "done"

    try:
        wait_until(lambda: batch_counts(batch_id).get("sending"), 60, lambda: f"a claim\n{worker.tail()}")
        wait_until(
            finished, 90, lambda: f"the batch to finish\n{batch_counts(batch_id)}\n{worker.tail()}", every=0.2
        )
    finally:
        worker.stop()
    assert uncertain == 0
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert len(by_rcpt) == len(recipients)
