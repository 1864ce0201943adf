"""SES tenants: the tenant of each message and event; per-tenant rollups, trips, suppressions.

``messages.tenant`` and ``feedback_events.tenant`` are new nullable columns (NULL: the
account's, as everything stored before); ``tenant_recipient_hours`` is empty because no
message stored before had a tenant; ``tenant_guard_trips`` and ``tenant_suppressions`` are
new. Nothing to backfill.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("tenant", sa.String(64)))
    op.create_index("ix_messages_tenant_id", "messages", ["tenant", "id"])
    op.add_column("feedback_events", sa.Column("tenant", sa.String(64)))
    op.create_table(
        "tenant_recipient_hours",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("hour", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("flags", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recipients", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tenant_guard_trips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("open_tenant", sa.String(64), unique=True),
        sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate", sa.String(30), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("threshold", sa.Float()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("reset_at", sa.DateTime(timezone=True)),
        sa.Column("reset_note", sa.Text()),
    )
    op.create_index("ix_tenant_guard_trips_tenant", "tenant_guard_trips", ["tenant", "id"])
    op.create_table(
        "tenant_suppressions",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("tenant_suppressions")
    op.drop_table("tenant_guard_trips")
    op.drop_table("tenant_recipient_hours")
    op.drop_index("ix_messages_tenant_id", table_name="messages")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy: copying ``messages``
    # would drop the table its recipients cascade from, and lose them.
    op.drop_column("feedback_events", "tenant")
    op.drop_column("messages", "tenant")
