"""sending accounts log in with OAuth2 (XOAUTH2): Microsoft 365 and Google Workspace

Revision ID: 0011_oauth_accounts
Revises: 0011_resilience_sessions
Create Date: 2026-12-01 09:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_oauth_accounts"
down_revision = "0011_accsetup_tls_ca"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_kind", sa.String(length=20), server_default="password", nullable=False)
        )
        batch_op.add_column(
            sa.Column("oauth_tenant", sa.String(length=120), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("oauth_client_id", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("oauth_secret_encrypted", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("oauth_refresh_token_encrypted", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("oauth_endpoint", sa.String(length=255), server_default="", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        for name in (
            "oauth_endpoint",
            "oauth_refresh_token_encrypted",
            "oauth_secret_encrypted",
            "oauth_client_id",
            "oauth_tenant",
            "auth_kind",
        ):
            batch_op.drop_column(name)
