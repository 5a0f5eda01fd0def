"""HTML → PDF with wkhtmltopdf, fast and byte-for-byte reproducible.

Speed: Debian's wkhtmltopdf (unpatched Qt) spends most of its time starting up and, by default,
waiting 200 ms for JavaScript. We start it with ``--read-args-from-stdin``: one process converts
many documents, each line of stdin being one conversion with its own input and output file, so
every document still becomes its own, independent PDF (its own font subsets, nothing shared with
the other documents of the run). JavaScript is off and the delay is 0. Two such processes run in
parallel (``PDF_PROCESSES``). Because each PDF is produced alone, the bytes do not depend on which
other documents were in the same run: rendering one document or the same one inside a batch of
500 gives identical files.

Reproducibility: the only variable part of Qt's output is ``/CreationDate``; we overwrite its
digits in place (same length, so the cross-reference offsets stay valid) with a fixed date.

Safety: ``--disable-local-file-access`` (the page cannot read files; images are data: URIs),
no JavaScript, and the HTML is written to a private temporary directory.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

BASE_OPTIONS = [
    "--quiet",
    "--disable-javascript",
    "--javascript-delay", "0",
    "--disable-local-file-access",
    "--disable-external-links",
    "--disable-internal-links",
    "--no-outline",
    "--encoding", "utf-8",
    "--page-size", "A4",
    "--margin-top", "12mm",
    "--margin-bottom", "14mm",
    "--margin-left", "14mm",
    "--margin-right", "14mm",
    "--dpi", "96",
    "--image-quality", "94",
]
CREATION_DATE = re.compile(rb"/CreationDate \(D:(\d{14})")
FIXED_DATE = b"20000101000000"


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


def _run_chunk(binary: str, workdir: str, indexes: list[int], options: list[str], timeout: float) -> None:
    """Convert several pages in one wkhtmltopdf process (one stdin line per document)."""
    opts = " ".join(options)
    script = "".join(f"{opts} {workdir}/in{i}.html {workdir}/out{i}.pdf\n" for i in indexes)
    # QT_HASH_SEED=0: Qt orders fonts through a QHash whose seed is random per process; a fixed seed
    # makes the object order, hence the bytes, the same on every run.
    env = {**os.environ, "XDG_RUNTIME_DIR": workdir, "QT_HASH_SEED": "0"}
    try:
        proc = subprocess.run([binary, "--read-args-from-stdin"], input=script.encode(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout, env=env, cwd=workdir, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PdfRenderError(f"wkhtmltopdf non ha finito entro {timeout:.0f} s") from exc
    if proc.returncode not in (0, 1):  # 1: some page had a (reported) network error we disabled anyway
        raise PdfRenderError(f"wkhtmltopdf è terminato con codice {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')[-300:]}")


def html_to_pdfs(pages: list[str], *, processes: int = 2, binary: str | None = None,
                 stamps: list[bytes] | None = None, extra_options: list[str] | None = None) -> list[bytes]:
    """Render each HTML page to its own PDF; returns the PDFs in the same order."""
    if not pages:
        return []
    binary = wkhtmltopdf_binary(binary)
    options = BASE_OPTIONS + list(extra_options or [])
    workdir = tempfile.mkdtemp(prefix="recapito-pdf-")
    try:
        if re.search(r"\s", workdir):
            raise PdfRenderError("la cartella temporanea contiene spazi: imposta TMPDIR")
        os.chmod(workdir, 0o700)
        for index, html in enumerate(pages):
            with open(os.path.join(workdir, f"in{index}.html"), "w", encoding="utf-8") as handle:
                handle.write(html)
        count = max(1, min(processes, len(pages)))
        # Contiguous chunks: similar documents stay together; each process gets its share.
        size = -(-len(pages) // count)
        chunks = [list(range(start, min(start + size, len(pages)))) for start in range(0, len(pages), size)]
        timeout = 60 + 2.0 * size
        if len(chunks) == 1:
            _run_chunk(binary, workdir, chunks[0], options, timeout)
        else:
            with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
                for future in [pool.submit(_run_chunk, binary, workdir, c, options, timeout) for c in chunks]:
                    future.result()
        results = []
        for index in range(len(pages)):
            path = os.path.join(workdir, f"out{index}.pdf")
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                data = b""
            if not data.startswith(b"%PDF"):
                raise PdfRenderError(f"wkhtmltopdf non ha prodotto il PDF del documento {index + 1}")
            results.append(normalise_pdf(data, stamps[index] if stamps else FIXED_DATE))
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def naive_html_to_pdf(html: str) -> bytes:
    """One pdfkit call with default options (what the benchmark compares against)."""
    import pdfkit
    return pdfkit.from_string(html, False, options={"quiet": ""})
