"""the clinic's record is the truth: pending changes, virtual pumps in the database, the last reading named as such

- ``pump_changes``: every change recorded as pending before it is sent, settled from the pump's log;
- ``virtual_pumps`` and ``virtual_pump_journal``: each virtual pump's state keyed by the clinic's pump
  id (no longer a file named after a serial); existing state files are copied in, then forgotten;
- ``pumps.state_at`` / ``reservoir_ml`` become ``reading_at`` / ``reading_reservoir_ml`` (the last
  reading, never the reservoir now); ``log_seen``, ``regressed_at``, ``regression_detail``;
- ``change_key`` on refills and program versions: the key their pump log event carries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:40:00
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pump_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("pump_seq", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["pump_id"], ["pumps.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["pump_changes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_pump_changes_pump_id", "pump_changes", ["pump_id"])
    op.create_index("ix_pump_changes_status", "pump_changes", ["status"])
    op.create_table(
        "virtual_pumps",
        sa.Column("pump_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("setup", sa.JSON(), nullable=False),
        sa.Column("therapy", sa.JSON(), nullable=False),
        sa.Column("t", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pump_id"),
    )
    op.create_table(
        "virtual_pump_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pump_id", "n"),
    )
    op.create_index("ix_virtual_pump_journal_pump_id", "virtual_pump_journal", ["pump_id"])
    for table in ("refills", "program_versions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("change_key", sa.String(length=64), nullable=True))
    _copy_state_files()
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.alter_column("state_at", new_column_name="reading_at", existing_type=sa.DateTime())
        batch_op.alter_column("reservoir_ml", new_column_name="reading_reservoir_ml", existing_type=sa.Float())
        batch_op.add_column(sa.Column("log_seen", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("regressed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("regression_detail", sa.Text(), nullable=True))
        batch_op.drop_column("virtual_state")
    seen = "SELECT MAX(seq) FROM pump_events WHERE pump_events.pump_id = pumps.id"
    op.execute(f"UPDATE pumps SET log_seen = COALESCE(({seen}), 0)")


def _copy_state_files() -> None:
    """Each pump's state file (named after its serial) into ``virtual_pumps``, keyed by its id."""
    db = op.get_bind()
    pumps = sa.table("virtual_pumps", *(sa.column(c, t) for c, t in _PUMP_COLUMNS))
    journal = sa.table("virtual_pump_journal", *(sa.column(c, t) for c, t in _JOURNAL_COLUMNS))
    rows = db.execute(sa.text("SELECT id, virtual_state FROM pumps WHERE virtual_state IS NOT NULL")).all()
    now = datetime.now().replace(microsecond=0)
    for pump_id, path in rows:
        try:
            state = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # no readable state: the pump shows "no virtual pump to talk to"
        setup, therapy = state.get("setup") or {}, state.get("therapy") or {}
        row = {"pump_id": pump_id, "setup": setup, "therapy": therapy, "t": state.get("t"), "created_at": now}
        db.execute(pumps.insert().values(**row))
        entries = [
            {"pump_id": pump_id, "n": n, "t": e["t"], "request": e["request"]}
            for n, e in enumerate(state.get("journal") or [])
        ]
        if entries:
            db.execute(journal.insert(), entries)


_PUMP_COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("pump_id", sa.Integer()),
    ("setup", sa.JSON()),
    ("therapy", sa.JSON()),
    ("t", sa.Float()),
    ("created_at", sa.DateTime()),
)
_JOURNAL_COLUMNS = (("pump_id", sa.Integer()), ("n", sa.Integer()), ("t", sa.Float()), ("request", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("pumps") as batch_op:
        batch_op.add_column(sa.Column("virtual_state", sa.Text(), nullable=True))
        batch_op.drop_column("regression_detail")
        batch_op.drop_column("regressed_at")
        batch_op.drop_column("log_seen")
        batch_op.alter_column("reading_reservoir_ml", new_column_name="reservoir_ml", existing_type=sa.Float())
        batch_op.alter_column("reading_at", new_column_name="state_at", existing_type=sa.DateTime())
    for table in ("refills", "program_versions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("change_key")
    op.drop_index("ix_virtual_pump_journal_pump_id", table_name="virtual_pump_journal")
    op.drop_table("virtual_pump_journal")
    op.drop_table("virtual_pumps")
    op.drop_index("ix_pump_changes_status", table_name="pump_changes")
    op.drop_index("ix_pump_changes_pump_id", table_name="pump_changes")
    op.drop_table("pump_changes")
