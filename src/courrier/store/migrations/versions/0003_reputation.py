"""Reputation: the guard's trips, doctor results, and an index for per-day figures.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_table(
        "guard_trips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("open_slot", sa.Integer(), unique=True),
        sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate", sa.String(30), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("threshold", sa.Float()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("reset_at", sa.DateTime(timezone=True)),
        sa.Column("reset_note", sa.Text()),
    )
    op.create_table(
        "doctor_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("doctor_runs")
    op.drop_table("guard_trips")
    op.drop_index("ix_messages_created_at", "messages")
