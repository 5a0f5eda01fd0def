"""`make run` end to end: scripts/run.sh starts everything, /healthz says 200, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import signal
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(ROOT / ".venv" / "bin" / "flask")


def _status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _session_processes(sid: int) -> list[str]:
    """Live (non-zombie) processes of a session, whole command lines.

    `-ww`: without it ps cuts each line to $COLUMNS (80 when CI sets it), and the long absolute
    path of the venv's python pushes "capture-server" past the cut."""
    out = subprocess.run(
        ["ps", "-ww", "-s", str(sid), "-o", "stat=,args="], capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if line.strip() and not line.strip().startswith("Z")]


def _run_env(tmp_path: Path, port: int, capture_port: int) -> dict[str, str]:
    """The environment of a `make run` on a scratch SQLite database, migrated and seeded."""
    if not os.access(FLASK, os.X_OK):
        pytest.skip("manca .venv: esegui make setup")
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/run.db",
        "PORT": str(port),
        "CAPTURE_SMTP_PORT": str(capture_port),
        "RECAPITO_ENV": "development",
    }
    env.pop("REDIS_URL", None)
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([FLASK, "--app", "app", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


@pytest.mark.serial  # starts every service of `make run` at once: timing-sensitive beside parallel tests
@pytest.mark.slow
def test_run_script_starts_everything_and_ctrl_c_stops_it(tmp_path):
    """Demo data on first run, healthz 200 (a worker is registered), SIGINT stops every child."""
    port, capture_port = free_port(), free_port()
    env = _run_env(tmp_path, port, capture_port)
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed in the finally below, after the script stopped
    # A new session, as a terminal would give it; SIGINT is not ignored there.
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _status(f"http://127.0.0.1:{port}/healthz") != 200:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.2)
        assert _status(f"http://127.0.0.1:{port}/healthz") == 200, (tmp_path / "run.log").read_text()[-3000:]
        # The banner comes once the capture server answers too (healthz does not cover it).
        while (
            time.monotonic() < deadline
            and "Ctrl-C per fermare tutto" not in (tmp_path / "run.log").read_text()
        ):
            time.sleep(0.2)
        assert any("capture-server" in p for p in _session_processes(proc.pid))
        assert any("worker" in p for p in _session_processes(proc.pid))
        output = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{port}" in output and "admin" in output and "Utenti creati" in output
        # The capture server of make run accepts mail.
        import smtplib

        with smtplib.SMTP("127.0.0.1", capture_port, timeout=5) as conn:
            conn.sendmail("a@example.com", ["b@example.com"], b"Subject: prova make run\r\n\r\nciao\r\n")
        assert list((tmp_path / "captured").glob("*.eml"))
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole foreground process group, not only to the script.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    time.sleep(0.3)
    output = (tmp_path / "run.log").read_text()
    assert _session_processes(proc.pid) == [], output[-3000:]
    assert _status(f"http://127.0.0.1:{port}/healthz") == 0
    assert "Fermato tutto" in output
    # Quietly and in order: no child noticed the Ctrl-C before the script stopped it.
    assert proc.returncode == 0, output[-3000:]
    assert "ERRORE" not in output and "Traceback" not in output, output[-3000:]
    order = ["web", "scheduler", "worker", "capture", "redis"]
    stopped = [
        line.split("Fermo ", 1)[1].split()[0] for line in output.splitlines() if line.startswith(">> Fermo ")
    ]
    assert stopped == order, output[-3000:]


@pytest.mark.serial
@pytest.mark.slow
def test_make_run_in_a_terminal_exits_0_on_ctrl_c(tmp_path):
    """Ctrl-C typed in the terminal that runs `make run`: the script stops its children in order, and make
    itself exits 0 (it used to die of the same SIGINT: exit 130 and «make: *** [run] Interrupt»)."""
    if shutil.which("make") is None:
        pytest.skip("make non installato")
    port, capture_port = free_port(), free_port()
    env = _run_env(tmp_path, port, capture_port)
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        # After setsid (start_new_session): the pty becomes this session's terminal, its foreground group
        # is make's, as when a person types `make run` in a shell.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "setup", "run"],  # -o setup: the virtualenv is there already
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,  # only an ioctl in the child: no locks taken
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    output = lambda: b"".join(chunks).decode(errors="replace")  # noqa: E731
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "Ctrl-C per fermare tutto" not in output():
            assert proc.poll() is None, output()[-3000:]
            time.sleep(0.2)
        assert _status(f"http://127.0.0.1:{port}/healthz") == 200, output()[-3000:]
        os.write(master, b"\x03")  # the terminal turns it into SIGINT for its foreground process group
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(5)
        os.close(master)
    text = output()
    assert proc.returncode == 0, text[-3000:]
    assert "Fermato tutto" in text, text[-3000:]
    for noise in ("ERRORE", "Traceback", "Interrupt", "make: ***"):
        assert noise not in text, text[-3000:]
    time.sleep(0.3)
    assert _session_processes(proc.pid) == [], text[-3000:]
    assert _status(f"http://127.0.0.1:{port}/healthz") == 0
