"""Feedback: the append-only event history and the SNS messages already applied.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(400), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subtype", sa.String(200)),
        sa.Column("recipient", sa.String(320)),
        sa.Column("ses_message_id", sa.String(100), nullable=False),
        sa.Column("feedback_id", sa.String(200)),
        sa.Column("sns_message_id", sa.String(100)),
        sa.Column("topic_arn", sa.String(300)),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.create_index("ix_feedback_events_ses_message_id", "feedback_events", ["ses_message_id"])
    op.create_index("ix_feedback_events_recipient", "feedback_events", ["recipient", "kind"])
    op.create_table(
        "sns_receipts",
        sa.Column("sns_message_id", sa.String(100), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sns_receipts")
    op.drop_table("feedback_events")
