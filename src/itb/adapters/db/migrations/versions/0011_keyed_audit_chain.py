"""the keyed audit chain: signed checkpoints (the seal of the entries written before the key)

The entries already in the log keep their plain SHA-256 chain values. The first audited write or
verification with the audit key (``ITB_AUDIT_KEY``, else ``audit.key`` in the data directory)
seals them: a checkpoint signed with the key pins the last of them, and every later entry's chain
value is an HMAC-SHA256 under the key, chained from it (``itb.clinic.audit``). The chain's head
row is made here when the log is still empty, so two first writers cannot both create it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("chain_value", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("last_hash"), sa.column("count"))
    connection = op.get_bind()
    if connection.execute(sa.select(head.c.id).where(head.c.id == 1)).first() is None:
        op.bulk_insert(head, [{"id": 1, "last_hash": GENESIS, "count": 0}])


def downgrade() -> None:
    # the keyed entries stay; without their checkpoints an older release cannot verify them
    op.drop_table("audit_checkpoints")
