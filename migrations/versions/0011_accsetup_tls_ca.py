"""mail accounts: extra certificate authorities (PEM) trusted for the account's SMTP and IMAP servers

Revision ID: 0011_accsetup_tls_ca
Revises: 0011_resilience_sessions
Create Date: 2026-12-01 09:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0011_accsetup_tls_ca"
down_revision = "0011_resilience_sessions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tls_ca_pem", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("tls_ca_pem")
