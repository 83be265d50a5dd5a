"""users roles lifecycle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:42:00.962692
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_token_token_sha256")),
    )
    op.create_table(
        "department",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_department_grid_id_grid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("organisation_kind", sa.String(length=32), nullable=True),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_routing_rule_department_id_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("region_id", sa.String(length=64), nullable=True),
        sa.Column("organisation_id", sa.String(length=64), nullable=True),
        sa.Column("department_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_user_account_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_user_account_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["grid.id"], name=op.f("fk_user_account_region_id_grid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "user_grid",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_user_grid_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_user_grid_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("user_id", "grid_id", name=op.f("pk_user_grid")),
    )
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grid_event_id", sa.Integer(), nullable=False),
        sa.Column("history_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_event_id"],
            ["grid_event.id"],
            name=op.f("fk_attachment_grid_event_id_grid_event"),
        ),
        sa.ForeignKeyConstraint(
            ["history_id"],
            ["grid_event_history.id"],
            name=op.f("fk_attachment_history_id_grid_event_history"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attachment_grid_event_id"), ["grid_event_id"], unique=False
        )

    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_encrypted", sa.Text(), nullable=True))

    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("path", sa.String(length=400), nullable=False, server_default="")
        )
        batch_op.create_index(batch_op.f("ix_grid_path"), ["path"], unique=False)

    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_reference", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("address", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("reporter", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("department_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("level", sa.String(length=16), nullable=False, server_default="community")
        )
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("deadline_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("escalations", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("reworks", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("dispatched_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("closed_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_grid_event_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_grid_event_deadline_at"), ["deadline_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_grid_event_department_id"), ["department_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_grid_event_assignee_id_user_account"),
            "user_account",
            ["assignee_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_grid_event_merged_into_id_grid_event"),
            "grid_event",
            ["merged_into_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_grid_event_department_id_department"),
            "department",
            ["department_id"],
            ["id"],
        )

    with op.batch_alter_table("grid_event_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))

    # Grids imported before this revision get their materialised paths.
    connection = op.get_bind()
    grid = sa.table(
        "grid",
        sa.column("id", sa.String),
        sa.column("parent_id", sa.String),
        sa.column("path", sa.String),
    )
    parents = dict(connection.execute(sa.select(grid.c.id, grid.c.parent_id)).all())

    def path_of(code: str) -> str:
        chain: list[str] = []
        current: str | None = code
        while current is not None:
            chain.append(current)
            current = parents.get(current)
        return "/" + "/".join(reversed(chain)) + "/"

    for code in parents:
        connection.execute(grid.update().where(grid.c.id == code).values(path=path_of(code)))


def downgrade() -> None:
    with op.batch_alter_table("grid_event_history", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_grid_event_department_id_department"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_grid_event_merged_into_id_grid_event"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_grid_event_assignee_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_grid_event_department_id"))
        batch_op.drop_index(batch_op.f("ix_grid_event_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_grid_event_assignee_id"))
        batch_op.drop_column("closed_at")
        batch_op.drop_column("dispatched_at")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("reworks")
        batch_op.drop_column("escalations")
        batch_op.drop_column("deadline_at")
        batch_op.drop_column("assignee_id")
        batch_op.drop_column("level")
        batch_op.drop_column("department_id")
        batch_op.drop_column("reporter")
        batch_op.drop_column("address")
        batch_op.drop_column("source_reference")

    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_path"))
        batch_op.drop_column("path")

    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.drop_column("source_encrypted")

    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_grid_event_id"))

    op.drop_table("attachment")
    op.drop_table("user_grid")
    op.drop_table("user_account")
    op.drop_table("routing_rule")
    op.drop_table("department")
    op.drop_table("api_token")
