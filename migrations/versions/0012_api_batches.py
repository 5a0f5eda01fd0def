"""API batches: the user an API token acts as, Idempotency-Key records, Delivery.updated_at for ?since=

Revision ID: 0012_api_batches
Revises: 0012_preference_requests
Create Date: 2026-12-01 12:20:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0012_api_batches"
down_revision = "0012_preference_requests"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_user_id_users"), "users", ["user_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "api_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_api_idempotency_keys_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_idempotency_keys_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_keys")),
        sa.UniqueConstraint("token_id", "key", name="uq_api_idempotency_keys_token_key"),
    )
    op.add_column("deliveries", sa.Column("updated_at", sa.DateTime(), nullable=True))
    # Rows already there: their last known moment (sent, else the batch's creation).
    op.execute(
        "UPDATE deliveries SET updated_at = COALESCE(sent_at, claimed_at, "
        "(SELECT batches.created_at FROM batches WHERE batches.id = deliveries.batch_id))"
    )
    op.create_index("ix_deliveries_batch_updated", "deliveries", ["batch_id", "updated_at"], unique=False)


def downgrade():
    op.drop_index("ix_deliveries_batch_updated", table_name="deliveries")
    op.drop_column("deliveries", "updated_at")
    op.drop_table("api_idempotency_keys")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_user_id_users"), type_="foreignkey")
        batch_op.drop_column("user_id")
