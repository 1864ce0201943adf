"""Campaigns from a CSV file: one row per recipient, its columns the template data.

Every row is checked before anything is queued; a file with a bad row queues nothing unless
the bad rows are skipped on purpose. Each row's idempotency key comes from the campaign (its
name, or the template and the file's name) and the address, so queuing the same file again,
or the same file with its bad rows fixed, queues nobody twice. The file's name rather than
its content: a list edited after a first run must not send its unchanged rows again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from courrier.errors import CourrierError, InvalidMessage
from courrier.message import AddressLike
from courrier.sending.outbox import EnqueueReport, destination_key, enqueue_many
from courrier.store import Store
from courrier.template_message import TemplateMessage, check_template_name

__all__ = ["Campaign", "RefusedRow", "queue_campaign", "read_campaign"]


@dataclass(frozen=True)
class RefusedRow:
    line: int  # in the file, the header being line 1
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.value!r}: {self.reason}"


@dataclass(frozen=True)
class Campaign:
    name: str
    #: (line, message, idempotency key) for each valid row
    rows: tuple[tuple[int, TemplateMessage, str], ...]
    refused: tuple[RefusedRow, ...]

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.refused)


def read_campaign(
    path: str | Path,
    *,
    template: str,
    sender: AddressLike,
    email_column: str = "email",
    data_columns: Sequence[str] = (),
    campaign: str | None = None,
    tags: dict[str, str] | None = None,
    configuration_set: str | None = None,
) -> Campaign:
    """Read and check every row of the CSV file at ``path`` (UTF-8, a header line)."""
    check_template_name(template)
    content = Path(path).read_bytes()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidMessage(f"{path} is not UTF-8: {err}") from err
    name = campaign or f"{template}:{Path(path).name}"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if email_column not in header:
        raise InvalidMessage(f"{path}: no {email_column!r} column (columns: {', '.join(header)})")
    missing = [c for c in data_columns if c not in header]
    if missing:
        raise InvalidMessage(f"{path}: no column {', '.join(map(repr, missing))}")
    columns = list(data_columns) or [c for c in header if c]
    valid: list[tuple[int, TemplateMessage, str]] = []
    refused: list[RefusedRow] = []
    for row in reader:
        line = reader.line_num
        value = (row.get(email_column) or "").strip()
        if None in row:
            refused.append(RefusedRow(line, value, "more fields than the header names"))
            continue
        try:
            message = TemplateMessage(
                sender=sender,
                to=[value],
                template=template,
                data={c: row.get(c) or "" for c in columns},
                tags=dict(tags or {}),
                configuration_set=configuration_set,
                bulk=True,
            )
        except CourrierError as err:
            refused.append(RefusedRow(line, value, str(err) or type(err).__name__))
            continue
        valid.append((line, message, destination_key(name, [message.recipients[0].email])))
    return Campaign(name, tuple(valid), tuple(refused))


def queue_campaign(
    store: Store, campaign: Campaign, *, skip_invalid: bool = False
) -> EnqueueReport:
    """Queue every valid row in one transaction; nothing when a row was refused, unless
    ``skip_invalid``."""
    if campaign.refused and not skip_invalid:
        raise InvalidMessage(
            f"{len(campaign.refused)} of {campaign.total} rows refused; nothing queued"
        )
    return enqueue_many(store, [(message, key) for _, message, key in campaign.rows])
