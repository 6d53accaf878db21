"""the camera each video was located with

Adds to ``videos`` where the camera's pitch and mounting height came from (``camera_source``:
configured | estimated | default, the video's summary; the per-value story in ``camera_note``),
the values used and, for estimated ones, their one-sigma uncertainties. All nullable: videos
processed before this revision have none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("camera_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("pitch_deg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pitch_sigma_deg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("mount_height_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("mount_height_sigma_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("camera_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        for name in ("camera_note", "mount_height_sigma_m", "mount_height_m", "pitch_sigma_deg", "pitch_deg",
                     "camera_source"):
            batch_op.drop_column(name)
