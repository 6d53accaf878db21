"""review labels: reviewers' corrections of the detector on evidence frames

Adds ``review_labels``: one append-only row per label record (confirm, adjust_box, relabel,
add_missed, empty_frame) on an evidence frame, with the reviewer, the time, the model whose output
was reviewed (the video's ``model_name``), the class and the box in the frame's pixels. Each row is
chained into the audit log when written. Nothing existing changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("frame_sha256", sa.String(length=64), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("target_label_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=True),
        sa.Column("x1", sa.Float(), nullable=True),
        sa.Column("y1", sa.Float(), nullable=True),
        sa.Column("x2", sa.Float(), nullable=True),
        sa.Column("y2", sa.Float(), nullable=True),
        sa.Column("model_name", sa.String(length=255), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("reviewer", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["frame_sha256"], ["evidence.sha256"]),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_label_id"], ["review_labels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decision_id"], ["review_decisions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_labels_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_labels_frame_sha256"), ["frame_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_labels_observation_id"), ["observation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_labels_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_labels", schema=None) as batch_op:
        for name in ("ix_review_labels_video_id", "ix_review_labels_observation_id", "ix_review_labels_frame_sha256",
                     "ix_review_labels_created_at"):
            batch_op.drop_index(batch_op.f(name))
    op.drop_table("review_labels")
