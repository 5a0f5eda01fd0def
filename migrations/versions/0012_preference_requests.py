"""Preference requests from the recipients' page, and where the «Gestisci le tue preferenze» link goes

Revision ID: 0012_preference_requests
Revises: 0011_sdi_notifications
Create Date: 2026-12-01 12:10:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0012_preference_requests"
down_revision = "0011_sdi_notifications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "preference_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("type_codes", sa.String(length=400), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=False),
        sa.Column("new_name", sa.String(length=160), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("privacy_level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_preference_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_preference_requests_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preference_requests")),
    )
    with op.batch_alter_table("preference_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preference_requests_party_id"), ["party_id"], unique=False)
        batch_op.create_index(
            "ix_preference_requests_status_level", ["status", "privacy_level"], unique=False
        )
    # Plain add_column: a batch copy of document_types would break the foreign keys to it on SQLite.
    op.add_column(
        "document_types",
        sa.Column("preferences_link", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "company", sa.Column("preferences_link", sa.Boolean(), server_default=sa.true(), nullable=False)
    )


def downgrade():
    # Plain drop_column: document_types is referenced by foreign keys (a batch copy would break them on SQLite).
    op.drop_column("company", "preferences_link")
    op.drop_column("document_types", "preferences_link")
    with op.batch_alter_table("preference_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_preference_requests_status_level")
        batch_op.drop_index(batch_op.f("ix_preference_requests_party_id"))
    op.drop_table("preference_requests")
