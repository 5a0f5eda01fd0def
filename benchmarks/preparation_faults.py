"""What one bad document costs a preparation (issue 14.2).

Two sets of BENCH_PREPARE_BAD (default 400) credit notes whose PDFs must still be rendered (20 lines each):
the first clean, the second with one document whose `extra` has the wrong shape
(``open_items: "notalist"``, as the API accepted before the check), in the first chunk of 200. Each set
is prepared as one batch; the bad document is set aside with its reason and the rest is prepared.

The last line is one JSON object: clean_s, with_bad_s, overhead_s, unpreparable, prepared_pending.
Goal: the batch with the bad document is "ready" with every other document, in less than 1.5 x the clean one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_PREPARE_BAD", 400))
SECRET = "bench-secret-key-0123456789abcdef0123456789"


def seed(base: int, n: int, day: date, bad: int | None) -> None:
    """n parties with one contact receiving NOTA_CREDITO and one credit note each, dated `day`."""
    from sqlalchemy import insert

    from mailer.extensions import db
    from mailer.models import Contact, Document, DocumentLine, Party, contact_document_types

    db.session.execute(
        insert(Party),
        [
            {
                "id": base + i,
                "erp_code": f"P{base + i}",
                "name": f"Cliente {base + i} S.p.A.",
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
                "email": f"c{base + i}@cliente.example",
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
                "number": f"NC{base + i}",
                "year": day.year,
                "date": day,
                "party_id": base + i,
                "total_net": Decimal("1000.00"),
                "total_vat": Decimal("220.00"),
                "total": Decimal("1220.00"),
                "due_dates": [],
                "extra": {"open_items": "notalist"} if i == bad else {},
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


def prepare(user, day: date) -> tuple[float, dict]:
    """Seconds to prepare the credit notes of `day`, and the batch's delivery counts."""
    from mailer.services import batch_views, preparation

    started = time.perf_counter()
    batch = preparation.create_batch(
        preparation.Selection(type_codes=["NOTA_CREDITO"], date_from=day, date_to=day), user, enqueue=False
    )
    batch = preparation.run_preparation(batch.id)
    elapsed = time.perf_counter() - started
    assert batch.status == "ready", batch.error
    return elapsed, batch_views.counts(batch.id)


def main() -> None:
    """Prepare both sets and print the figures."""
    from flask_migrate import upgrade

    from mailer import create_app
    from mailer.extensions import db
    from mailer.services.reference import ensure_reference_data
    from mailer.services.users import create_user
    from tests.support.services import PrivateRedis

    work = Path(tempfile.mkdtemp(prefix="recapito-bench-prepfaults-"))
    redis = PrivateRedis(str(work)).start()
    try:
        db_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": db_url,
                "REDIS_URL": redis.url,
                "SECRET_KEY": SECRET,
                "INSTANCE_PATH": str(work / "instance"),
            }
        )
        with app.app_context():
            upgrade()
            ensure_reference_data()
            user = create_user(
                "bench", "bench-password-123", roles=["operator"], clearance=3, send_types=["NOTA_CREDITO"]
            )
            db.session.commit()
            seed(1_000_000, N, date(2026, 11, 27), bad=None)
            seed(2_000_000, N, date(2026, 11, 28), bad=N // 4)
            clean, _ = prepare(user, date(2026, 11, 27))
            print(f"{N} note di credito, tutte valide: {clean:.1f} s")
            with_bad, counts = prepare(user, date(2026, 11, 28))
            unpreparable = counts.get("excluded", 0)
            print(
                f"{N} note di credito, una con dati non validi: {with_bad:.1f} s "
                f"({counts.get('pending', 0)} da inviare, {unpreparable} non preparabile)"
            )
        print(
            json.dumps(
                {
                    "clean_s": round(clean, 2),
                    "with_bad_s": round(with_bad, 2),
                    "overhead_s": round(with_bad - clean, 2),
                    "unpreparable": unpreparable,
                    "prepared_pending": counts.get("pending", 0),
                }
            )
        )
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
