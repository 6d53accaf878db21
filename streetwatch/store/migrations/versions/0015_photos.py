"""photos as well as video: ``videos.media`` says which a footage item is

Adds to ``videos``: ``media``, ``video`` or ``photo`` (a one-frame item: a geotagged JPEG, HEIC or
PNG from an inspector or the 12345 hotline, registered, deduplicated and claimed like a video).
Every row processed before this revision is a video.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media", sa.String(length=16), server_default="video", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("media")
