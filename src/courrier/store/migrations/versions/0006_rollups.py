"""Rollups and indexes: rates read per-hour counts instead of recounting every recipient.

``recipients.flags`` says what counts about each recipient (a frozen copy of
:class:`courrier.store.rollups.Flag` as of this revision) and ``recipient_hours`` counts the
recipients of each UTC hour per combination of flags; both are backfilled here from the
messages, recipients and feedback already stored. Indexes for the probes that remain.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The bits as of this revision (courrier.store.rollups.Flag); a later change to what is
# counted needs its own migration to recount.
SENT, SUPPRESSED_AT_SEND, SIMULATOR, NO_COMPLAINT_FEEDBACK = 1, 2, 4, 8
DELIVERED, HARD_BOUNCE, SOFT_BOUNCE, AUTO_REPLY = 16, 32, 64, 128
COMPLAINED, REJECTED, ACCOUNT_LISTED, RENDERING_FAILURE = 256, 512, 1024, 2048
MESSAGES = -1


def upgrade() -> None:
    _indexes()
    op.add_column("recipients", sa.Column("flags", sa.Integer()))
    op.create_table(
        "recipient_hours",
        sa.Column("hour", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("flags", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recipients", sa.BigInteger(), nullable=False),
    )
    _backfill(op.get_bind().dialect.name)


def _indexes() -> None:
    op.create_index(
        "ix_feedback_events_message_recipient",
        "feedback_events",
        ["ses_message_id", "recipient", "kind"],
    )
    soft = sa.text("action = 'count_soft_bounce'")
    op.create_index(
        "ix_feedback_events_soft_bounces",
        "feedback_events",
        ["recipient", "received_at"],
        postgresql_where=soft,
        sqlite_where=soft,
    )
    complaint = sa.text("kind = 'Complaint'")
    op.create_index(
        "ix_feedback_events_complaints",
        "feedback_events",
        ["received_at"],
        postgresql_where=complaint,
        sqlite_where=complaint,
    )
    op.create_index("ix_recipients_status", "recipients", ["status", "message_id"])
    op.create_index("ix_messages_status_id", "messages", ["status", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # LIKE 'prefix%' uses a B-tree only in the C collation or with pattern operators,
        # which serve equality as well: the address index is rebuilt with them.
        op.drop_index("ix_recipients_address", "recipients")
        op.execute("CREATE INDEX ix_recipients_address ON recipients (address varchar_pattern_ops)")


def _hour(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(floor(extract(epoch FROM m.created_at) / 3600) AS integer)"
    return "CAST(strftime('%s', m.created_at) AS integer) / 3600"


def _backfill(dialect: str) -> None:
    ends = "LIKE" if dialect == "postgresql" else "GLOB"
    event_bits = f"""
        SELECT
          MAX(CASE WHEN e.kind = 'Delivery' THEN {DELIVERED} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Bounce' AND e.subtype LIKE 'Permanent/%'
                   THEN {HARD_BOUNCE} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Bounce' AND e.action = 'count_soft_bounce'
                   THEN {SOFT_BOUNCE} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Bounce' AND e.action = 'record' THEN {AUTO_REPLY} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Complaint' THEN {COMPLAINED} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Reject' THEN {REJECTED} ELSE 0 END)
        + MAX(CASE WHEN e.kind = 'Rendering Failure' THEN {RENDERING_FAILURE} ELSE 0 END)
        + MAX(CASE WHEN (e.kind = 'Bounce'
                         AND e.subtype = 'Permanent/OnAccountSuppressionList')
                     OR (e.kind = 'Complaint' AND e.subtype = 'OnAccountSuppressionList')
                   THEN {ACCOUNT_LISTED} ELSE 0 END)
        FROM feedback_events e
        WHERE e.ses_message_id = m.ses_message_id AND e.recipient = r.address
    """
    star = "%" if dialect == "postgresql" else "*"
    flags = f"""
          CASE WHEN m.ses_message_id IS NOT NULL AND r.status <> 'suppressed'
               THEN {SENT} ELSE 0 END
        + CASE WHEN r.status = 'suppressed' THEN {SUPPRESSED_AT_SEND} ELSE 0 END
        + CASE WHEN r.address {ends} '{star}@simulator.amazonses.com'
               THEN {SIMULATOR} ELSE 0 END
        + CASE WHEN r.address {ends} '{star}@gmail.com'
                 OR r.address {ends} '{star}@googlemail.com'
               THEN {NO_COMPLAINT_FEEDBACK} ELSE 0 END
        + COALESCE(({event_bits}), 0)
    """
    op.execute(
        f"UPDATE recipients SET flags = (SELECT {flags} FROM recipients r "
        "JOIN messages m ON m.id = r.message_id WHERE r.id = recipients.id)"
    )
    hour = _hour(dialect)
    op.execute(
        f"INSERT INTO recipient_hours (hour, flags, recipients) "
        f"SELECT {hour}, r.flags, COUNT(*) FROM recipients r "
        f"JOIN messages m ON m.id = r.message_id GROUP BY {hour}, r.flags"
    )
    op.execute(
        f"INSERT INTO recipient_hours (hour, flags, recipients) "
        f"SELECT {hour}, {MESSAGES}, COUNT(*) FROM messages m WHERE EXISTS ("
        f"SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.flags & {SENT} <> 0) "
        f"GROUP BY {hour}"
    )


def downgrade() -> None:
    op.drop_table("recipient_hours")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("flags")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_recipients_address", "recipients")
        op.create_index("ix_recipients_address", "recipients", ["address"])
    op.drop_index("ix_messages_status_id", "messages")
    op.drop_index("ix_recipients_status", "recipients")
    op.drop_index("ix_feedback_events_complaints", "feedback_events")
    op.drop_index("ix_feedback_events_soft_bounces", "feedback_events")
    op.drop_index("ix_feedback_events_message_recipient", "feedback_events")
