"""Indexes for millions of document lines and hundreds of thousands of contacts (issue 19, PostgreSQL)

Sales statistics (segments "bought"): the invoices of a period with their party and id straight from an
index (ix_documents_sales replaces ix_documents_type_date, which is its prefix), and the line -> invoice
look-up without reading the table (ix_documents_id_sales).

Text search (services/search.py `contains`, ILIKE '%x%'): on PostgreSQL, trigram GIN indexes (pg_trgm) on
the columns the party list searches. They are PostgreSQL-only and not in the models:
mailer.extensions.include_in_migrations leaves every index named ix_*_trgm out of the comparison
(`flask db check`, the drift tests). SQLite has no such index
and keeps scanning.

Revision ID: 0013_big_data_indexes
Revises: 0012_sdi_hold
Create Date: 2026-12-01 14:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_big_data_indexes"
down_revision = "0012_sdi_hold"
branch_labels = None
depends_on = None

TRIGRAM_COLUMNS = {
    "parties": ("name", "erp_code", "vat_number", "city"),
    "contacts": ("name", "email"),
}


def upgrade():
    op.create_index("ix_documents_sales", "documents", ["type_code", "date", "party_id", "id"])
    op.create_index("ix_documents_id_sales", "documents", ["id", "type_code", "date", "party_id"])
    op.drop_index("ix_documents_type_date", table_name="documents")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, columns in TRIGRAM_COLUMNS.items():
            for column in columns:
                op.create_index(
                    f"ix_{table}_{column}_trgm",
                    table,
                    [column],
                    postgresql_using="gin",
                    postgresql_ops={column: "gin_trgm_ops"},
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TRIGRAM_COLUMNS.items():
            for column in columns:
                op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    op.create_index("ix_documents_type_date", "documents", ["type_code", "date"])
    op.drop_index("ix_documents_id_sales", table_name="documents")
    op.drop_index("ix_documents_sales", table_name="documents")
