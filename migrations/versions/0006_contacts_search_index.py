"""contacts: covering index for the party search

Revision ID: 0006_contacts_search
Revises: 0005_delivery_message
Create Date: 2026-11-30 10:40:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0006_contacts_search"
down_revision = "0005_delivery_message"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_search", ["privacy_level", "party_id", "name", "email"], unique=False
        )


def downgrade():
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_search")
