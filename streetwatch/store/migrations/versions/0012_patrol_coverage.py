"""patrol coverage: the road segments and grid cells each processed video drove, and when

Adds the table ``patrol_passes`` (video, kind ``road`` or ``cell``, the segment id or H3 cell, when
the car entered and left, metres driven in it) and changes nothing existing. Videos processed before
this revision have no passes: their coverage is unknown until they are processed again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patrol_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covered_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patrol_passes", schema=None) as batch_op:
        batch_op.create_index("ix_patrol_passes_kind_ref_left_at", ["kind", "ref", "left_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_patrol_passes_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patrol_passes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_passes_video_id"))
        batch_op.drop_index("ix_patrol_passes_kind_ref_left_at")
    op.drop_table("patrol_passes")
