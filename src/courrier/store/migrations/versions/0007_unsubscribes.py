"""Unsubscribes: recipients who asked for no more bulk mail, per list, with time and source.

Only creates its own table, so it follows any 0006.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unsubscribes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_unsubscribes_address_list", "unsubscribes", ["address", "list_name"], unique=True
    )
    op.create_index("ix_unsubscribes_created_at", "unsubscribes", ["created_at"])


def downgrade() -> None:
    op.drop_table("unsubscribes")
