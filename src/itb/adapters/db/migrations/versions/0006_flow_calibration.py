"""per-pump flow calibration: the implant fill, the learned flow, the earliest plausible dates; a refill's product

- ``pumps.implant_fill_ml``: the volume filled at implant (the first refill interval's fill;
  unknown for pumps recorded before this revision, whose first interval is then not used);
- ``pumps.flow_ratio`` / ``flow_ratio_sd`` / ``flow_refills``: the flow learned from the refills;
- ``pumps.plausible_alarm_at`` / ``plausible_empty_at``: the earliest plausible instants from the
  last reading (indexed, as the forecast's own dates, for the worklist); filled at the next reading;
- ``refills.product``: the drug product chosen at a refill (its own strengths are judged);
- ``screening_trials.side_effects``: side effects seen after a test dose (they stop the escalation);
- ``patients.patient_ref`` (the clinic's own identifier, unique), ``pumps.connection`` (telemetry or
  vendor) and ``pump_sessions``: what a vendor's programmer did, as recorded (an import's state).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.add_column(sa.Column("implant_fill_ml", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("flow_ratio", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("flow_ratio_sd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("flow_refills", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("plausible_alarm_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("plausible_empty_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_pumps_plausible_alarm_at"), ["plausible_alarm_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pumps_plausible_empty_at"), ["plausible_empty_at"], unique=False)
    with op.batch_alter_table("refills") as batch_op:
        batch_op.add_column(sa.Column("product", sa.String(length=64), nullable=True))
    with op.batch_alter_table("screening_trials") as batch_op:
        batch_op.add_column(sa.Column("side_effects", sa.Text(), nullable=True))
    with op.batch_alter_table("patients") as batch_op:
        batch_op.add_column(sa.Column("patient_ref", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_patients_patient_ref", ["patient_ref"])
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.add_column(sa.Column("connection", sa.String(length=16), nullable=False, server_default="telemetry"))
    op.create_table(
        "pump_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["pump_id"], ["pumps.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pump_id", "kind", "at"),
    )
    with op.batch_alter_table("pump_sessions") as batch_op:
        batch_op.create_index(batch_op.f("ix_pump_sessions_pump_id"), ["pump_id"], unique=False)


def downgrade() -> None:
    op.drop_table("pump_sessions")
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.drop_column("connection")
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_constraint("uq_patients_patient_ref", type_="unique")
        batch_op.drop_column("patient_ref")
    with op.batch_alter_table("screening_trials") as batch_op:
        batch_op.drop_column("side_effects")
    with op.batch_alter_table("refills") as batch_op:
        batch_op.drop_column("product")
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.drop_index(batch_op.f("ix_pumps_plausible_empty_at"))
        batch_op.drop_index(batch_op.f("ix_pumps_plausible_alarm_at"))
        for column in (
            "plausible_empty_at", "plausible_alarm_at", "flow_refills", "flow_ratio_sd", "flow_ratio", "implant_fill_ml"
        ):  # fmt: skip
            batch_op.drop_column(column)
