"""Render 500 twenty-line invoices: naive (one pdfkit call each, default options) vs ours.

Prints both rates and their ratio; the last line is one JSON object:
{"naive_docs_per_s": …, "docs_per_s": …, "ratio": …}
The naive method is slow (≈4 docs/s), so by default it is timed on a sample of NAIVE_SAMPLE
documents (its rate does not depend on the count); BENCH_NAIVE_ALL=1 times all of them.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOCS = int(os.environ.get("BENCH_DOCS", 500))
NAIVE_SAMPLE = DOCS if os.environ.get("BENCH_NAIVE_ALL") else int(os.environ.get("BENCH_NAIVE_SAMPLE", 40))


def cpu_seconds() -> float:
    """User+system CPU of this process and of its finished children (the wkhtmltopdf processes)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Build the invoices in a scratch database (SQLite, or PostgreSQL next to BENCH_DATABASE_URL), render them both ways, check the output."""
    workdir = tempfile.mkdtemp(prefix="recapito-bench-")
    os.environ["INSTANCE_PATH"] = workdir
    from flask_migrate import upgrade

    from benchmarks.benchdb import kind, scratch_database
    from mailer import create_app
    from mailer.config import TestConfig
    from mailer.extensions import db

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    database = ExitStack()  # a scratch PostgreSQL database next to BENCH_DATABASE_URL when set
    url = database.enter_context(scratch_database(f"{workdir}/bench.db"))
    config.update(SQLALCHEMY_DATABASE_URI=url, INSTANCE_PATH=workdir)
    app = create_app(config)
    print(f"database {kind(url)}")
    with database, app.app_context():
        upgrade()
        from mailer.services.reference import ensure_reference_data

        ensure_reference_data()
        from tests.support.documents import make_invoice, make_party

        party = make_party()
        documents = [make_invoice(party, number=f"B{n:04d}", lines=20) for n in range(1, DOCS + 1)]
        db.session.commit()

        from mailer.pdf import render_document_html, render_documents
        from mailer.pdf.engine import naive_html_to_pdf

        sample = documents[:NAIVE_SAMPLE]
        pages = [render_document_html(d) for d in sample]
        start = time.perf_counter()
        for html in pages:
            naive_html_to_pdf(html)
        naive_elapsed = time.perf_counter() - start
        naive_rate = len(sample) / naive_elapsed
        print(
            f"naive: {len(sample)} documents in {naive_elapsed:.2f} s = {naive_rate:.1f} docs/s "
            f"(one pdfkit call per document, default options)"
        )

        cpu_start = cpu_seconds()
        start = time.perf_counter()
        pdfs = render_documents(documents)  # database + templates + wkhtmltopdf, streamed to 2 processes
        elapsed = time.perf_counter() - start
        rate = len(documents) / elapsed
        cpu_ms = (cpu_seconds() - cpu_start) * 1000 / len(documents)
        cpus = os.cpu_count() or 1
        print(
            f"ours: {len(documents)} documents in {elapsed:.2f} s = {rate:.1f} docs/s "
            f"(HTML rendering included; --read-args-from-stdin, pages streamed to "
            f"{app.config.get('PDF_PROCESSES', 2)} processes, no JS delay, unhinted subset fonts)"
        )
        print(
            f"CPU (this process and wkhtmltopdf, user+sys): {cpu_ms:.1f} ms per document "
            f"(upper bound on a free machine with {cpus} CPUs: {1000 * cpus / cpu_ms:.0f} docs/s)"
        )
        print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs")

        # Not timed: each PDF is its own, correct file. All: one page. One in 10 (pypdf needs ~0.1 s to read
        # a page's text): its own number and total, no other document's number. Three: rendered alone, the
        # same bytes as inside the batch.
        from pypdf import PdfReader

        from mailer.pdf import render_document_pdf

        numbers = {d.number for d in documents}
        for index, (document, pdf) in enumerate(zip(documents, pdfs, strict=True)):
            reader = PdfReader(io.BytesIO(pdf))
            assert len(reader.pages) == 1, document.number
            if index % 10 == 0:
                text = " ".join(reader.pages[0].extract_text().split())
                assert document.number in text and "Totale documento" in text, document.number
                assert not any(n in text for n in numbers if n != document.number), document.number
        for index in (0, len(documents) // 2, len(documents) - 1):
            assert render_document_pdf(documents[index]) == pdfs[index], documents[index].number
        print(
            f"checked: {len(pdfs)} PDFs of one page each, {len(pdfs[::10])} of them read (own number and "
            f"total, no other), 3 rendered again alone: same bytes"
        )
        ratio = rate / naive_rate
        print(f"ratio: {ratio:.1f}x")
        print(
            json.dumps(
                {
                    "naive_docs_per_s": round(naive_rate, 2),
                    "docs_per_s": round(rate, 2),
                    "ratio": round(ratio, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
