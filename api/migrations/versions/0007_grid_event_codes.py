"""grid event codes from the district taxonomy

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Events opened before the taxonomy get the code their rule (video) or category (others) has in
# the bundled taxonomy.yaml, so old and new events count alike in the figures.
RULE_CODES = {
    "intrusion": "0801", "loitering": "0802", "crowd": "0412", "line_crossing": "0803",
    "illegal_parking": "0701", "fall": "0901", "tamper": "1001",
}  # fmt: skip
CATEGORY_CODES = {
    "public_safety": "0899", "urban_management": "0599", "health_emergency": "0901",
    "fire_hazard": "0406", "device_fault": "1099",
}  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_code", sa.String(length=8), nullable=True))
        batch_op.create_index(batch_op.f("ix_grid_event_event_code"), ["event_code"], unique=False)
    grid_event = sa.table(
        "grid_event",
        sa.column("event_code", sa.String),
        sa.column("category", sa.String),
        sa.column("incident_id", sa.String),
        sa.column("source_reference", sa.String),
    )
    incident = sa.table("incident", sa.column("id", sa.String), sa.column("rule", sa.String))
    for rule, code in RULE_CODES.items():
        from_rule = sa.select(incident.c.id).where(incident.c.rule == rule)
        op.execute(
            grid_event.update()
            .where(grid_event.c.incident_id.in_(from_rule))
            .values(event_code=code)
        )
    op.execute(
        grid_event.update()
        .where(
            grid_event.c.event_code.is_(None),
            grid_event.c.source_reference.like("video-loss:%"),
        )
        .values(event_code="1002")
    )
    for category, code in CATEGORY_CODES.items():
        op.execute(
            grid_event.update()
            .where(grid_event.c.event_code.is_(None), grid_event.c.category == category)
            .values(event_code=code)
        )


def downgrade() -> None:
    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_event_event_code"))
        batch_op.drop_column("event_code")
