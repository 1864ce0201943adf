"""A shared hold for a paused SES tenant's outbox rows: ``outbox.tenant`` and ``tenant_holds``.

``outbox.tenant`` lets a claim skip the rows of a held tenant in SQL; rows queued before
carry their tenant only in their payload, so every row gets it from there, whatever its
status: a person may queue a failed or unknown row again (``courrier outbox retry``), and
it must not bypass its tenant's hold. ``tenant_holds`` is new and empty.

Revision ID: 0011
Revises: 0010
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("tenant", sa.String(64)))
    op.create_table(
        "tenant_holds",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("probe_id", sa.Integer()),
        sa.Column("probe_until", sa.DateTime(timezone=True)),
    )
    _backfill()
    op.create_index("ix_outbox_tenant_due", "outbox", ["tenant", "status", "next_attempt_at"])


def _backfill() -> None:
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("payload", sa.Text()),
        sa.column("tenant", sa.String()),
    )
    connection = op.get_bind()
    # Only payloads that may name a tenant are parsed: the others are the account's.
    named = connection.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.payload.like('%"tenant": "%'))
    ).all()
    found = []
    for row_id, payload in named:
        tenant = json.loads(payload).get("tenant")
        if isinstance(tenant, str):
            found.append({"row_id": row_id, "found": tenant})
    if found:
        connection.execute(
            sa.update(outbox)
            .where(outbox.c.id == sa.bindparam("row_id"))
            .values(tenant=sa.bindparam("found")),
            found,
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_tenant_due", table_name="outbox")
    op.drop_table("tenant_holds")
    op.drop_column("outbox", "tenant")
