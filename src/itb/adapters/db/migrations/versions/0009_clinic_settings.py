"""the clinic's settings an admin changes while it runs: one row (null: the startup default holds)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00
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
        "clinic_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("day_phone", sa.String(length=30), nullable=True),
        sa.Column("after_hours_phone", sa.String(length=30), nullable=True),
        sa.Column("clinic_days", sa.String(length=32), nullable=True),
        sa.Column("closed_days", sa.JSON(), nullable=True),
        sa.Column("refill_margin_days", sa.Integer(), nullable=True),
        sa.Column("stale_margin_days", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("clinic_settings")
