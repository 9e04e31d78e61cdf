"""worklist indexes: the pumps at risk are chosen by the database

The worklist asks the database for the pumps that may be listed (``itb.clinic.worklist.at_risk``):
by their ERI date and by their patient's bookings of a kind and status (the next booked refill, the
overdue and missed visits).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pumps") as batch:
        batch.create_index("ix_pumps_eri_at", ["eri_at"])
    with op.batch_alter_table("appointments") as batch:
        batch.create_index("ix_appointments_status_kind_at", ["status", "kind", "at"])


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_index("ix_appointments_status_kind_at")
    with op.batch_alter_table("pumps") as batch:
        batch.drop_index("ix_pumps_eri_at")
