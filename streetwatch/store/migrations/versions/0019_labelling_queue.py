"""the labelling queue: frames a reviewer is asked to label, apart from the violations

Adds ``labelling_items``: one row per detection whose evidence frame the queue asks to be labelled
(low confidence, or a class the model is weak on), with its lease and outcome. Items never file cases.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 07:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labelling_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("observation_id", sa.Integer(), sa.ForeignKey("observations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("frame_sha256", sa.String(64), sa.ForeignKey("evidence.sha256"), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_by", sa.String(255), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("observation_id"),
    )
    for column in ("video_id", "frame_sha256", "status", "lease_owner", "created_at"):
        op.create_index(f"ix_labelling_items_{column}", "labelling_items", [column])


def downgrade() -> None:
    op.drop_table("labelling_items")
