"""Live-server fixtures for the browser tests: the app on a real WSGI server thread, a real
`flask worker` process, the loopback SMTP server, and Chromium driven by Playwright (a fresh profile,
console watched for CSP violations, a screenshot in test-artifacts/ when the test fails)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

from .faults import WorkerProcess

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    """The running app: its base URL and the worker process serving its queue."""

    url: str
    worker: WorkerProcess


@pytest.fixture
def live_server(app, tmp_path):
    """The app served by werkzeug on a free loopback port (threaded), with a real worker process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    worker = WorkerProcess(app, tmp_path).start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", worker)
    worker.stop()
    server.shutdown()
    thread.join(timeout=5)


@dataclass
class Browser:
    """A Chromium page plus what its console said."""

    page: object
    base: str
    console: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        """Console messages reporting a Content-Security-Policy violation."""
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Log in through the form."""
        self.page.goto(f"{self.base}/auth/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))

    def logout(self) -> None:
        """Log out with the header button."""
        self.page.click("header button:has-text('Esci'), button:has-text('Esci')")
        self.page.wait_for_url(re.compile(r".*/auth/login.*"))


@pytest.fixture
def browser_locale() -> str:
    """The browser's language; a test module overrides this fixture to try another (e.g. en-US)."""
    return "it-IT"


@pytest.fixture
def browser(live_server, request, browser_locale):
    """Chromium on a fresh profile, pointed at the live server; screenshot on failure."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} non trovato: installa il pacchetto Debian 'chromium' per i test nel browser")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="recapito-chromium-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            locale=browser_locale,
        )
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        session = Browser(page, live_server.url)
        page.on("console", lambda message: session.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: session.console.append(f"pageerror: {error}"))
        try:
            yield session
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
                with contextlib.suppress(sync_api.Error, OSError):  # the browser may be the thing that broke
                    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                    (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(session.console))
                    (ARTIFACTS / f"{name}.worker.txt").write_text(live_server.worker.tail(20000))
            context.close()
    shutil.rmtree(profile, ignore_errors=True)
