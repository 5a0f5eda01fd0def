"""document lines: covering index for the sales-statistics filters of campaigns

Revision ID: 0009_segment_sales_index
Revises: 0008_tracking
Create Date: 2026-11-30 10:30:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0009_segment_sales_index"
down_revision = "0008_tracking"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("document_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_document_lines_product_sales",
            ["product_id", "document_id", "amount", "quantity"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("document_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_document_lines_product_sales")
