"""footage cut short: whether a video's file was truncated, and how much of it was analysed

Adds to ``videos``: ``truncated`` (the file ends before the footage its container declares: a
faststart MP4 cut off mid-copy, a recording that lost power), ``analysed_s`` (seconds of footage
decoded and analysed) and ``decode_note`` (what was found, in words). Videos processed before
this revision are not truncated as far as is known, with nothing recorded about how much was
analysed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("truncated", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("analysed_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("decode_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        for name in ("decode_note", "analysed_s", "truncated"):
            batch_op.drop_column(name)
