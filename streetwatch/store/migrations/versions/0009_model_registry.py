"""model registry: detector versions, their activations, the frozen evaluation set, shadow detections

Adds four tables and changes nothing existing:

* ``model_versions``: one row per registered detector version (its number is the key), with its
  parent, the sha256 of its training data's manifest.csv, the training command and settings, its
  scores on the frozen evaluation set, and the names and sha256 of its weights and exports (the files
  live under the models folder, ``Settings.models_dir``);
* ``model_activations``: append-only, the newest row is the active version (register of the first
  version, promote, rollback), each audited;
* ``eval_frames``: the frozen evaluation set, evidence frames never exported for training;
* ``shadow_frames``: a shadow model's detections per sampled frame beside the active model's.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("data_manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("train_command", sa.Text(), nullable=True),
        sa.Column("training", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("weights_file", sa.String(length=255), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("exports", sa.JSON(), nullable=False),
        sa.Column("runtime_file", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_versions_weights_sha256"), ["weights_sha256"], unique=False)

    op.create_table(
        "model_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("comparison", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version"], ["model_versions.version"]),
        sa.ForeignKeyConstraint(["previous_version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_activations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_activations_version"), ["version"], unique=False)

    op.create_table(
        "eval_frames",
        sa.Column("frame_sha256", sa.String(length=64), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["frame_sha256"], ["evidence.sha256"]),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("frame_sha256"),
    )
    with op.batch_alter_table("eval_frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eval_frames_video_id"), ["video_id"], unique=False)

    op.create_table(
        "shadow_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("pts_s", sa.Float(), nullable=False),
        sa.Column("shadow_model", sa.String(length=255), nullable=False),
        sa.Column("shadow_version", sa.Integer(), nullable=True),
        sa.Column("active_model", sa.String(length=255), nullable=False),
        sa.Column("shadow_detections", sa.JSON(), nullable=False),
        sa.Column("active_detections", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shadow_version"], ["model_versions.version"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("video_id", "shadow_model", "frame_index"),
    )
    with op.batch_alter_table("shadow_frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_frames_shadow_model"), ["shadow_model"], unique=False)
        batch_op.create_index(batch_op.f("ix_shadow_frames_shadow_version"), ["shadow_version"], unique=False)
        batch_op.create_index(batch_op.f("ix_shadow_frames_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_frames", schema=None) as batch_op:
        for name in ("ix_shadow_frames_video_id", "ix_shadow_frames_shadow_version", "ix_shadow_frames_shadow_model"):
            batch_op.drop_index(batch_op.f(name))
    op.drop_table("shadow_frames")
    with op.batch_alter_table("eval_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eval_frames_video_id"))
    op.drop_table("eval_frames")
    with op.batch_alter_table("model_activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_activations_version"))
    op.drop_table("model_activations")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_versions_weights_sha256"))
    op.drop_table("model_versions")
