"""retention: evidence whose file was purged by policy

Adds ``evidence.purged_at``: when ``streetwatch purge`` removed the image's file under the
retention policy (None: the file is kept). The row stays, so the observations that cite the
image keep their reference and the audit log's ``evidence.purge`` entry names what went; a
purged image is no longer expected on disk by ``streetwatch audit verify``.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
