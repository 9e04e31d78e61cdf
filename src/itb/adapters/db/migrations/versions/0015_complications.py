"""complications: what went wrong with a patient's therapy, as the clinic records it

One row per complication (infection, CSF leak or seroma, a catheter problem, a pump pocket problem,
withdrawal, overdose, other), of a patient and optionally a pump and the refill whose discrepancy it
explains; the quality report counts them by kind.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("pump_id", sa.Integer(), sa.ForeignKey("pumps.id"), nullable=True),
        sa.Column("refill_id", sa.Integer(), sa.ForeignKey("refills.id"), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_complications_patient_id", "complications", ["patient_id"])
    op.create_index("ix_complications_pump_id", "complications", ["pump_id"])
    op.create_index("ix_complications_at", "complications", ["at"])


def downgrade() -> None:
    op.drop_index("ix_complications_at", table_name="complications")
    op.drop_index("ix_complications_pump_id", table_name="complications")
    op.drop_index("ix_complications_patient_id", table_name="complications")
    op.drop_table("complications")
