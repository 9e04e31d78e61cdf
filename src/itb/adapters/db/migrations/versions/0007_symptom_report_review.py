"""a symptom report's review: when it was reviewed (the family called back) and the reviewer's note

- ``symptom_reports.reviewed_at``: when a staff member reviewed the report (``reviewed_by`` says
  who; before this revision nothing set it, so every stored report stays unreviewed);
- ``symptom_reports.review_note``: what they noted ("called back: ...").

An unreviewed report puts its patient on the worklist (reason ``symptom_report``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("symptom_reports") as batch_op:
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("symptom_reports") as batch_op:
        batch_op.drop_column("review_note")
        batch_op.drop_column("reviewed_at")
