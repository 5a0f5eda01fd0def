"""`flask --app app demo-data`: a believable Italian company to try Recapito with.

Deterministic for a given --seed (dates are relative to the day it runs). Parties, contacts,
products, documents and lines go in with SQLAlchemy Core bulk inserts in chunks and explicit ids,
so that `--customers 20000 --lines 1000000` takes minutes. Everything happens in one transaction:
a failure leaves the database as it was.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...extensions import db
from ...models import Company, Party
from ..reference import ensure_reference_data
from .common import DemoError, DemoOptions, DemoReport
from .company import CompanyMixin
from .documents import DocumentsMixin
from .parties import PartiesMixin


def build_demo_data(
    options: DemoOptions, password: str, reset: bool = False, echo=lambda msg: None
) -> DemoReport:
    """Build the demo company in the current database (one transaction); raise DemoError if refused."""
    ensure_reference_data()
    report = DemoReport()
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(Party)) or 0
    company = db.session.get(Company, 1)
    if existing:
        if not reset:
            raise DemoError(
                f"Il database contiene già {existing} anagrafiche: i dati dimostrativi si caricano solo "
                "in un database vuoto. Usa --reset per sostituire dei dati dimostrativi precedenti."
            )
        assert company is not None  # ensure_reference_data made it
        if not company.is_demo:
            raise DemoError(
                "Il database contiene dati reali (l'azienda non è segnata come dimostrativa): "
                "--reset è permesso solo sui dati dimostrativi."
            )
    builder = _Builder(options, report, echo)
    try:
        if existing:
            builder.step("cancellazione dei dati precedenti", builder.wipe)
        builder.step("azienda, utenti, account di invio", lambda: builder.company_users_accounts(password))
        builder.step("zone, agenti, categorie, prodotti", builder.classification_and_products)
        builder.step("anagrafiche e contatti", builder.parties_and_contacts)
        builder.step("documenti e righe", builder.documents)
        builder.step("sequenze", builder.fix_sequences)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


class _Builder(CompanyMixin, PartiesMixin, DocumentsMixin):
    """Generates the rows; one instance per run (each step lives in the mixin named after it)."""

    # -- reset ------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete the previous demo business data and everything that depends on it."""
        metadata = db.metadata
        doomed = {
            "parties",
            "zones",
            "agents",
            "categories",
            "products",
            "product_categories",
            "tags",
            "contacts",
            "documents",
            "document_lines",
            "batches",
        }
        grew = True
        while grew:  # add every table that references a doomed one
            grew = False
            for table in metadata.sorted_tables:
                if table.name not in doomed and any(
                    fk.column.table.name in doomed for fk in table.foreign_keys
                ):
                    doomed.add(table.name)
                    grew = True
        for table in reversed(metadata.sorted_tables):
            if table.name in doomed:
                self.conn.execute(table.delete())

    def fix_sequences(self) -> None:
        """PostgreSQL: move the id sequences past the ids assigned here."""
        if self.conn.dialect.name != "postgresql":
            return
        for table in ("products", "parties", "contacts", "documents", "document_lines"):
            self.conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
            )
