"""custom models

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 22:46:12.769919
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_model",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("weights_path", sa.String(length=500), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("class_codes", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column("registered_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_custom_model")),
    )


def downgrade() -> None:
    op.drop_table("custom_model")
