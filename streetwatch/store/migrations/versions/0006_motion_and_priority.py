"""motion state of observations, review priority of violations

Adds to ``observations`` the motion state of vehicles read from the footage (``motion_state``,
``motion_score``, ``motion_reason``, ``lateral_offset_m``) and ``attributes`` (what later stages
add, e.g. the candidate a rule held back below its family's queue threshold); adds ``priority`` to
``violations`` (the review queue serves the highest first).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("motion_state", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("motion_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("motion_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lateral_offset_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index(batch_op.f("ix_observations_motion_state"), ["motion_state"], unique=False)
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=False, server_default="0.5"))
        batch_op.create_index(batch_op.f("ix_violations_priority"), ["priority"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_violations_priority"))
        batch_op.drop_column("priority")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observations_motion_state"))
        batch_op.drop_column("attributes")
        batch_op.drop_column("lateral_offset_m")
        batch_op.drop_column("motion_reason")
        batch_op.drop_column("motion_score")
        batch_op.drop_column("motion_state")
