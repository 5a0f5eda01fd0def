"""preparation: re-send marker on deliveries, last scheduled run per document type

Revision ID: 0011_prepare_resend_schedule
Revises: 0010_account_verp
Create Date: 2026-12-01 08:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_prepare_resend_schedule"
down_revision = "0010_account_verp"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("already_sent_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("document_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_last_run", sa.DateTime(), nullable=True))


def downgrade():
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, PostgreSQL): batch mode would copy and drop
    # document_types, which the reference rows of other tables point to (a foreign-key failure on SQLite).
    op.drop_column("document_types", "schedule_last_run")
    op.drop_column("deliveries", "already_sent_at")
