"""Document types: wait for the SdI outcome before the courtesy copy; the text said after an MC

Revision ID: 0012_sdi_hold
Revises: 0012_webhooks
Create Date: 2026-12-01 12:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_sdi_hold"
down_revision = "0012_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    # Plain add_column: document_types is referenced by foreign keys (no batch copy on SQLite).
    op.add_column(
        "document_types", sa.Column("wait_for_sdi", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("document_types", sa.Column("sdi_mc_text", sa.Text(), nullable=False, server_default=""))


def downgrade():
    op.drop_column("document_types", "sdi_mc_text")
    op.drop_column("document_types", "wait_for_sdi")
