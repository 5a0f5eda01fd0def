"""batches: state of the end-of-batch summary e-mail (status, reason, attempts, per-reader Message-IDs)

Revision ID: 0011_record_summary
Revises: 0010_account_verp
Create Date: 2026-12-01 08:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_record_summary"
down_revision = "0011_pec_trust"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("summary_status", sa.String(length=12), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("summary_error", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("summary_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("summary_messages", sa.JSON(), nullable=True))
    # Batches whose summary already went out under the old code.
    op.execute("UPDATE batches SET summary_status = 'sent' WHERE summary_sent_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("summary_messages")
        batch_op.drop_column("summary_attempts")
        batch_op.drop_column("summary_error")
        batch_op.drop_column("summary_status")
