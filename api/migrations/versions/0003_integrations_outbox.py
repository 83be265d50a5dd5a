"""integrations: webhooks and the outbound delivery outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 21:56:23.320487
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    op.create_table(
        "outbound_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("integration", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("grid_event_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grid_event_id"],
            ["grid_event.id"],
            name=op.f("fk_outbound_delivery_grid_event_id_grid_event"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name=op.f("fk_outbound_delivery_webhook_id_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_delivery")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_outbound_delivery_delivery_id")),
    )
    with op.batch_alter_table("outbound_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbound_delivery_grid_event_id"), ["grid_event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_delivery_integration"), ["integration"], unique=False
        )
        batch_op.create_index(
            "ix_outbound_delivery_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_delivery_webhook_id"), ["webhook_id"], unique=False
        )

    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbound_delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbound_delivery_id"],
            ["outbound_delivery.id"],
            name=op.f("fk_delivery_attempt_outbound_delivery_id_outbound_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
    )
    with op.batch_alter_table("delivery_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempt_outbound_delivery_id"),
            ["outbound_delivery_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempt_outbound_delivery_id"))

    op.drop_table("delivery_attempt")
    with op.batch_alter_table("outbound_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_delivery_webhook_id"))
        batch_op.drop_index("ix_outbound_delivery_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_outbound_delivery_integration"))
        batch_op.drop_index(batch_op.f("ix_outbound_delivery_grid_event_id"))

    op.drop_table("outbound_delivery")
    op.drop_table("webhook")
