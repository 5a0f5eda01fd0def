"""deliveries: index (batch_id, sent_at) for the progress widget's sending rate (messages of the last minute)

Revision ID: 0014_deliveries_batch_sent
Revises: 0013_big_data_indexes
Create Date: 2026-12-01 14:50:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_deliveries_batch_sent"
down_revision = "0013_big_data_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_deliveries_batch_sent", "deliveries", ["batch_id", "sent_at"], unique=False)


def downgrade():
    op.drop_index("ix_deliveries_batch_sent", table_name="deliveries")
