"""API token scopes, account token generations, camera addresses other than source encrypted

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 17:30:00.000000

Tokens issued before scopes existed keep only `open311` (what they were documented for): none
of them may read camera credentials until an admin issues a token with the `worker` scope.
Sub-stream addresses stored in clear are encrypted when the API next starts
(api.cameras.seal_addresses): a migration has no key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(
            sa.Column("scopes", sa.JSON(), server_default='["open311"]', nullable=False)
        )
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("camera") as batch:
        batch.add_column(sa.Column("addresses_encrypted", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera") as batch:
        batch.drop_column("addresses_encrypted")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("token_generation")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scopes")
