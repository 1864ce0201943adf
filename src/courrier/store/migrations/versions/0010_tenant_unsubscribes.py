"""Unsubscribes per SES tenant: ``unsubscribes.tenant``, and the unique index over it.

A tenant's unsubscribe link names the tenant, and its unsubscribe stops that tenant's bulk
mail only. Every unsubscribe stored before came from a link without a tenant: '' (the
account's, honoured by every sender) is their value, so nothing to backfill. The unique
index on (address, list_name) becomes one on (address, list_name, tenant).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "unsubscribes",
        sa.Column("tenant", sa.String(64), nullable=False, server_default=""),
    )
    op.drop_index("ix_unsubscribes_address_list", table_name="unsubscribes")
    op.create_index(
        "ix_unsubscribes_address_list_tenant",
        "unsubscribes",
        ["address", "list_name", "tenant"],
        unique=True,
    )


def downgrade() -> None:
    # The tenants' unsubscribes have no place in the older table: forgotten, as the column.
    op.execute("DELETE FROM unsubscribes WHERE tenant <> ''")
    op.drop_index("ix_unsubscribes_address_list_tenant", table_name="unsubscribes")
    op.create_index(
        "ix_unsubscribes_address_list", "unsubscribes", ["address", "list_name"], unique=True
    )
    op.drop_column("unsubscribes", "tenant")
