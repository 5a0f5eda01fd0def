"""documents: index (date, id) for the documents list, newest first (one page read from the index, not a sort of all)

Revision ID: 0015_documents_date_id
Revises: 0014_deliveries_batch_sent
Create Date: 2026-12-01 17:40:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0015_documents_date_id"
down_revision = "0014_deliveries_batch_sent"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_documents_date_id", "documents", ["date", "id"], unique=False)


def downgrade():
    op.drop_index("ix_documents_date_id", table_name="documents")
