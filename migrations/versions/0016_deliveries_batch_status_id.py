"""deliveries: index (batch_id, status, id) for a batch's table filtered by state (one page in order from the index)

Revision ID: 0016_deliveries_batch_status_id
Revises: 0015_documents_date_id
Create Date: 2026-12-01 21:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0016_deliveries_batch_status_id"
down_revision = "0015_documents_date_id"
branch_labels = None
depends_on = None


def upgrade():
    # (batch_id, status) with the id after it: a batch's results filtered by state («inviati», «falliti»)
    # read their first 100 rows in id order and stop, instead of reading every row in that state and
    # sorting them (PostgreSQL chose that whenever its statistics predate the sending). Every query the
    # old index served is served by the new one, its prefix.
    op.drop_index("ix_deliveries_batch_status", table_name="deliveries")
    op.create_index("ix_deliveries_batch_status_id", "deliveries", ["batch_id", "status", "id"], unique=False)


def downgrade():
    op.drop_index("ix_deliveries_batch_status_id", table_name="deliveries")
    op.create_index("ix_deliveries_batch_status", "deliveries", ["batch_id", "status"], unique=False)
