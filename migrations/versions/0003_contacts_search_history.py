"""contacts: ERP code of contacts, privacy level of history entries

Revision ID: 0003_contacts
Revises: 0002_templates
Create Date: 2026-11-30 10:10:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_contacts"
down_revision = "0002_templates"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erp_code", sa.String(length=40), server_default="", nullable=False))

    with op.batch_alter_table("contact_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("privacy_level", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("contact_changes", schema=None) as batch_op:
        batch_op.drop_column("privacy_level")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("erp_code")
