"""worklist order index: the pumps by their earliest empty instant

The page and ``GET /api/worklist?limit=N`` build only the first items of the worklist: they ask the
database for the implanted pumps in the list's order, soonest empty first, a batch at a time
(``itb.clinic.worklist_first.first_items``). The order is the earliest of the pump's own empty instant
and the learned flow's (``itb.adapters.db.models.PUMP_EARLIEST_EMPTY``, the same CASE on SQLite
and PostgreSQL), then the pump's id: this index gives it without sorting every pump.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

EARLIEST_EMPTY = (
    "(CASE WHEN (plausible_empty_at IS NULL OR empty_at < plausible_empty_at)"
    " THEN empty_at ELSE plausible_empty_at END)"
)


def upgrade() -> None:
    op.create_index("ix_pumps_earliest_empty", "pumps", [sa.text(EARLIEST_EMPTY), "id"])


def downgrade() -> None:
    op.drop_index("ix_pumps_earliest_empty", table_name="pumps")
