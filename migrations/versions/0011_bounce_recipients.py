"""receipts: a bounce's recipients with their status code and action

Revision ID: 0011_bounce_recipients
Revises: 0010_account_verp
Create Date: 2026-12-01 08:30:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_bounce_recipients"
down_revision = "0011_prepare_resend_schedule"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounce_recipients", sa.JSON(), nullable=False, server_default="[]"))


def downgrade():
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("bounce_recipients")
