"""HTML → PDF with wkhtmltopdf, fast and byte-for-byte reproducible.

Speed: Debian's wkhtmltopdf (unpatched Qt) spends, per document, most of its time embedding the
fonts and, by default, 200 ms waiting for JavaScript. We start it with ``--read-args-from-stdin``:
one process converts many documents, each line of stdin being one conversion with its own input and
output file, so every document still becomes its own, independent PDF (its own font subsets, nothing
shared with the other documents of the run). JavaScript is off and the delay is 0. ``PDF_PROCESSES``
processes (2) run in parallel and are fed while the HTML is still being produced: each page goes to
the next process (round robin) as soon as it is written, so the Python side (database, templates)
overlaps with the conversions instead of coming before them. Because each PDF is produced alone,
the bytes do not depend on which other documents were in the same run, nor on the process or its
position in it: rendering one document or the same one inside a batch of 500 gives identical files.

Fonts: the templates use "Recapito Sans" (``fonts/``: DejaVu Sans cut to the Latin, Greek and
Cyrillic scripts, unhinted), found by wkhtmltopdf through a private fontconfig file that adds that
folder to the system's configuration. Qt's PDF writer loads every glyph it embeds with the hinting
bytecode running; without hinting a document costs about a fifth less CPU and looks the same.
Characters outside the subset fall back to the system's DejaVu Sans. The PDFs also no longer
depend on the system's DejaVu version.

Why not several documents per wkhtmltopdf page, split afterwards: it halves the CPU, but the fonts
are subset once for the whole page, so a document cut out of it carries the glyphs of its
neighbours and its bytes change with the batch it was in (measured); what was sent could then not
be reproduced from the document alone.

Reproducibility: the only variable part of Qt's output is ``/CreationDate``; we overwrite its
digits in place (same length, so the cross-reference offsets stay valid) with a fixed date.
``QT_HASH_SEED=0`` fixes the order in which Qt writes the font objects.

Safety: ``--disable-local-file-access`` (the page cannot read files; images are data: URIs),
no JavaScript, and the HTML is written to a private temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from xml.sax.saxutils import escape

# Only switches this wkhtmltopdf honours: the unpatched Qt ignores --no-outline, --image-quality and
# --disable-external/internal-links (and prints a warning per document for each).
BASE_OPTIONS = [
    "--quiet",
    "--disable-javascript",
    "--javascript-delay",
    "0",
    "--disable-local-file-access",
    "--encoding",
    "utf-8",
    "--page-size",
    "A4",
    "--margin-top",
    "12mm",
    "--margin-bottom",
    "14mm",
    "--margin-left",
    "14mm",
    "--margin-right",
    "14mm",
    "--dpi",
    "96",
]
CREATION_DATE = re.compile(rb"/CreationDate \(D:(\d{14})")
FIXED_DATE = b"20000101000000"
FONTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts")
SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"


class PdfRenderError(RuntimeError):
    """wkhtmltopdf failed for one or more documents."""


def normalise_pdf(data: bytes, stamp: bytes = FIXED_DATE) -> bytes:
    """Replace the creation timestamp with a fixed one of the same length (offsets stay valid)."""
    return CREATION_DATE.sub(lambda m: b"/CreationDate (D:" + stamp, data, count=1)


def wkhtmltopdf_binary(configured: str | None = None) -> str:
    """Absolute path of wkhtmltopdf (configured name or path), or raise."""
    name = configured or os.environ.get("WKHTMLTOPDF") or "wkhtmltopdf"
    path = name if os.path.isabs(name) else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise PdfRenderError(f"wkhtmltopdf non trovato ({name}): installa il pacchetto wkhtmltopdf")
    return path


def fontconfig_file(workdir: str) -> str:
    """A fontconfig file: the system's configuration plus our fonts folder (its cache goes where the
    system's configuration says, so it stays warm between runs)."""
    system = os.environ.get("FONTCONFIG_FILE") or SYSTEM_FONTCONFIG
    path = os.path.join(workdir, "fonts.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
            f'<fontconfig>\n  <include ignore_missing="yes">{escape(system)}</include>\n'
            f"  <dir>{escape(FONTS_DIR)}</dir>\n</fontconfig>\n"
        )
    return path


class _Converter:
    """One wkhtmltopdf process reading one conversion per stdin line."""

    def __init__(self, binary: str, workdir: str, env: dict, number: int):
        # Kept open for the process's lifetime: closed in finish().
        self.stderr = open(os.path.join(workdir, f"stderr{number}.txt"), "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "--read-args-from-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env=env,
            cwd=workdir,
        )
        assert self.proc.stdin is not None  # stdin=PIPE above
        self.stdin = self.proc.stdin
        self.count = 0

    def send(self, line: str) -> None:
        self.stdin.write(line.encode())
        self.stdin.flush()
        self.count += 1

    def error_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-300:]

    def finish(self, timeout: float) -> None:
        """Close stdin, wait for the last conversion, raise on a failure."""
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        try:
            code = self.proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired as exc:
            raise PdfRenderError("wkhtmltopdf non ha finito in tempo") from exc
        if code not in (0, 1):  # 1: some page had a (reported) network error we disabled anyway
            raise PdfRenderError(f"wkhtmltopdf è terminato con codice {code}: {self.error_text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.stderr.close()


def html_to_pdfs(
    pages: Iterable[str],
    *,
    processes: int = 2,
    binary: str | None = None,
    stamps: list[bytes] | None = None,
    extra_options: list[str] | None = None,
    count: int | None = None,
) -> list[bytes]:
    """Render each HTML page to its own PDF; returns the PDFs in the same order.

    ``pages`` may be a generator: each page is handed to a wkhtmltopdf process as soon as it is
    produced. ``count`` (or ``len(pages)``) only sizes the time limit.
    """
    if count is None and hasattr(pages, "__len__"):
        count = len(pages)  # type: ignore[arg-type]
    if count == 0:
        return []
    binary = wkhtmltopdf_binary(binary)
    options = " ".join(BASE_OPTIONS + list(extra_options or []))
    processes = max(1, processes)
    workdir = tempfile.mkdtemp(prefix="recapito-pdf-")
    converters: list[_Converter] = []
    # Whole run at most 60 s + 2 s per document of the busiest process (as before, per chunk).
    limit = 60 + 2.0 * -(-(count or 500) // processes)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        for converter in list(converters):
            converter.kill()

    watchdog = threading.Timer(limit, expire)
    watchdog.daemon = True
    total = 0
    try:
        if re.search(r"\s", workdir):
            raise PdfRenderError("la cartella temporanea contiene spazi: imposta TMPDIR")
        os.chmod(workdir, 0o700)
        # QT_HASH_SEED=0: Qt orders fonts through a QHash whose seed is random per process; a fixed seed
        # makes the object order, hence the bytes, the same on every run.
        env = {
            **os.environ,
            "XDG_RUNTIME_DIR": workdir,
            "QT_HASH_SEED": "0",
            "FONTCONFIG_FILE": fontconfig_file(workdir),
        }
        watchdog.start()
        for index, html in enumerate(pages):
            with open(os.path.join(workdir, f"in{index}.html"), "w", encoding="utf-8") as handle:
                handle.write(html)
            if len(converters) < processes:  # started lazily: one page needs one process
                converters.append(_Converter(binary, workdir, env, len(converters)))
            converter = converters[index % processes]
            try:
                converter.send(f"{options} {workdir}/in{index}.html {workdir}/out{index}.pdf\n")
            except (BrokenPipeError, OSError) as exc:
                if timed_out.is_set():
                    raise PdfRenderError(f"wkhtmltopdf non ha finito entro {limit:.0f} s") from exc
                converter.proc.wait()
                raise PdfRenderError(
                    f"wkhtmltopdf è terminato con codice {converter.proc.returncode}: "
                    f"{converter.error_text()}"
                ) from exc
            total = index + 1
        for converter in converters:
            try:
                converter.finish(limit)
            except PdfRenderError:
                if timed_out.is_set():
                    raise PdfRenderError(f"wkhtmltopdf non ha finito entro {limit:.0f} s") from None
                raise
        if timed_out.is_set():
            raise PdfRenderError(f"wkhtmltopdf non ha finito entro {limit:.0f} s")
        results = []
        for index in range(total):
            path = os.path.join(workdir, f"out{index}.pdf")
            try:
                with open(path, "rb") as pdf_file:
                    data = pdf_file.read()
            except FileNotFoundError:
                data = b""
            if not data.startswith(b"%PDF"):
                raise PdfRenderError(f"wkhtmltopdf non ha prodotto il PDF del documento {index + 1}")
            results.append(normalise_pdf(data, stamps[index] if stamps else FIXED_DATE))
        return results
    finally:
        watchdog.cancel()
        for converter in converters:
            converter.close()
        shutil.rmtree(workdir, ignore_errors=True)


def naive_html_to_pdf(html: str) -> bytes:
    """One pdfkit call with default options (what the benchmark compares against)."""
    import pdfkit

    return pdfkit.from_string(html, False, options={"quiet": ""})
