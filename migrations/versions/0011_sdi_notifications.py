"""SdI notifications (RC, MC, NS, NE, DT, AT) and the invoice file name on documents

Revision ID: 0011_sdi_notifications
Revises: 0011_resilience_sessions
Create Date: 2026-12-01 09:20:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_sdi_notifications"
down_revision = "0011_oauth_accounts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sdi_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("sdi_id", sa.String(length=20), nullable=False),
        sa.Column("invoice_file", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_sdi_notifications_blob_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sdi_notifications")),
        sa.UniqueConstraint("kind", "sdi_id", "message_id", name="uq_sdi_notifications_message"),
    )
    with op.batch_alter_table("sdi_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sdi_notifications_invoice_file"), ["invoice_file"], unique=False)
    op.add_column("documents", sa.Column("sdi_file_name", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_documents_sdi_file_name"), "documents", ["sdi_file_name"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_documents_sdi_file_name"), table_name="documents")
    op.drop_column("documents", "sdi_file_name")
    with op.batch_alter_table("sdi_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sdi_notifications_invoice_file"))
    op.drop_table("sdi_notifications")
