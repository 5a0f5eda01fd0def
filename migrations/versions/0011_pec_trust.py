"""PEC receipts that can be trusted: providers' certificates, provider domains, receipt signer and confirmation

Revision ID: 0011_pec_trust
Revises: 0010_account_verp
Create Date: 2026-12-01 08:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_pec_trust"
down_revision = "0011_bounce_recipients"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pec_trusted_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("issuer", sa.String(length=1000), nullable=False),
        sa.Column("serial", sa.String(length=80), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("is_ca", sa.Boolean(), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_pec_trusted_certificates_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pec_trusted_certificates")),
        sa.UniqueConstraint("sha256", name=op.f("uq_pec_trusted_certificates_sha256")),
    )
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pec_system_domains", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signer", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("trust_status", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("confirmed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_receipts_confirmed_by_id_users"),
            "users",
            ["confirmed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_receipts_confirmed_by_id_users"), type_="foreignkey")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("confirmed_by_id")
        batch_op.drop_column("trust_status")
        batch_op.drop_column("signer")
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("pec_system_domains")
    op.drop_table("pec_trusted_certificates")
