"""sign-in hardening: each user's token version (a sign-out ends every token) and the failed sign-ins

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempts") as batch_op:
        batch_op.create_index("ix_login_attempts_username_at", ["username", "at"], unique=False)
        batch_op.create_index("ix_login_attempts_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_attempts")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("token_version")
