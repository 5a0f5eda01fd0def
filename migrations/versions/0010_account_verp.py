"""mail accounts: per-delivery return path (VERP) for matching bounces

Revision ID: 0010_account_verp
Revises: 0009_segment_sales_index
Create Date: 2026-11-30 14:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0010_account_verp"
down_revision = "0009_segment_sales_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verp", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("verp")
