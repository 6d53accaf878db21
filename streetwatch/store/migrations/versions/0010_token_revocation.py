"""token revocation: a per-user version that every login token carries

Adds ``users.token_version`` (an integer, 0 for every existing user). A login token names the
version it was issued under; signing out and deactivating the user raise it, so every token issued
before stops working at once. Tokens issued before this revision carry no version and are refused:
everyone signs in again once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
