"""Sending: the send rate shared by every process (a token bucket, one row per SES region).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_rates",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.Column("max_send_rate", sa.Float(), nullable=False),
        sa.Column("rate_source", sa.String(10), nullable=False),
        sa.Column("rate_checked_at", sa.Float()),
        sa.Column("admitted", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("send_rates")
