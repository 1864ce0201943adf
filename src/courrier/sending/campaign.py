"""Campaigns from a CSV file: one row per recipient, its columns the template data.

The file is read twice, a row at a time, and never held whole: :func:`read_campaign`
checks every row (addresses, the line each record starts on, the same address given twice)
and keeps only what it reports; :func:`queue_campaign` reads it again and queues the rows in
transactions of :data:`BATCH_ROWS`, so other processes on the same store (SQLite has one
writer at a time) get their turn between two batches.

A file with a bad row queues nothing unless the bad rows are skipped on purpose. Each row's
idempotency key comes from the campaign (its name, or the template and the file's name) and
the address, so queuing the same file again, or the same file with its bad rows fixed, queues
nobody twice. The file's name rather than its content: a list edited after a first run must
not send its unchanged rows again. That also makes an interrupted run safe to repeat: the
batches committed before the interruption are queued (and may already be sent), running the
same file again finds them "already queued" and queues the rest.

A row whose address is one an earlier row already gave (in another case, with a display name,
or with its domain in Unicode rather than Punycode) is the same destination: it is not queued
again, and is reported with the line it repeats, since its other columns are not sent.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from courrier.errors import CourrierError, InvalidMessage
from courrier.message import AddressLike, check_list_name, check_tenant_name
from courrier.sending.outbox import EnqueueReport, destination_key, enqueue_many
from courrier.store import Store
from courrier.template_message import TemplateMessage, check_template_name, template_data

__all__ = [
    "BATCH_ROWS",
    "Campaign",
    "DuplicateRow",
    "QueueReport",
    "RefusedRow",
    "queue_campaign",
    "read_campaign",
]

#: Rows queued per transaction: small enough that SQLite's write lock is held for a moment
#: (other commands wait at most their busy timeout), large enough that the commits (each
#: synced to disk) do not dominate.
BATCH_ROWS = 500


@dataclass(frozen=True)
class RefusedRow:
    """A row that cannot be queued; ``line`` is where its record starts (the header is 1)."""

    line: int
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.value!r}: {self.reason}"


@dataclass(frozen=True)
class DuplicateRow:
    """A row whose address an earlier row (at ``first_line``) already gave: not queued."""

    line: int
    value: str
    first_line: int

    def __str__(self) -> str:
        return f"line {self.line}: {self.value!r}: the same address as line {self.first_line}"


@dataclass(frozen=True)
class Campaign:
    """A checked CSV file: what to queue from it, and what the check found.

    It holds no row: :func:`queue_campaign` reads the file again.
    """

    name: str
    path: Path
    template: str
    sender: AddressLike
    email_column: str
    #: The header line's column names, and those passed as template data.
    header: tuple[str, ...]
    columns: tuple[str, ...]
    default_data: Mapping[str, Any]
    tags: Mapping[str, str]
    configuration_set: str | None
    #: Data rows in the file, and the distinct valid addresses among them (what is queued).
    total: int = 0
    valid: int = 0
    refused: tuple[RefusedRow, ...] = ()
    duplicates: tuple[DuplicateRow, ...] = ()
    #: (size, modification time) when checked: queuing refuses a file changed since.
    stamp: tuple[int, int] = field(default=(0, 0), compare=False)
    #: The list the rows receive: their unsubscribe links name it.
    list_name: str | None = None
    #: The SES tenant the rows are sent for (``TenantName``); None: the account's.
    tenant: str | None = None

    @property
    def data_names(self) -> frozenset[str]:
        """Every name each row's template data has: its columns and the default data."""
        return frozenset(self.columns) | frozenset(self.default_data)


@dataclass(frozen=True)
class QueueReport:
    created: int
    existing: int


def read_campaign(
    path: str | Path,
    *,
    template: str,
    sender: AddressLike,
    email_column: str = "email",
    data_columns: Sequence[str] = (),
    default_data: Mapping[str, Any] | None = None,
    campaign: str | None = None,
    tags: dict[str, str] | None = None,
    configuration_set: str | None = None,
    list_name: str | None = None,
    tenant: str | None = None,
) -> Campaign:
    """Check every row of the CSV file at ``path`` (UTF-8, a header line), one at a time.

    Raises :class:`~courrier.errors.InvalidMessage` for what makes the whole file unusable:
    not UTF-8 (naming the line), a CSV syntax error (naming the line its record starts on),
    a missing column.
    """
    check_template_name(template)
    file = Path(path)
    template_data(default_data or {})
    records = _records(file)
    header = _header(file, records, email_column, data_columns)
    plan = Campaign(
        name=campaign or f"{template}:{file.name}",
        path=file,
        template=template,
        sender=sender,
        email_column=email_column,
        header=header,
        columns=tuple(data_columns) or tuple(c for c in header if c),
        default_data=dict(default_data or {}),
        tags=dict(tags or {}),
        configuration_set=configuration_set,
        stamp=_stamp(file),
        list_name=check_list_name(list_name),
        tenant=check_tenant_name(tenant),
    )
    total, valid = 0, 0
    refused: list[RefusedRow] = []
    duplicates: list[DuplicateRow] = []
    for row in _checked_rows(plan, records):
        total += 1
        if isinstance(row, RefusedRow):
            refused.append(row)
        elif isinstance(row, DuplicateRow):
            duplicates.append(row)
        else:
            valid += 1
    return replace(
        plan, total=total, valid=valid, refused=tuple(refused), duplicates=tuple(duplicates)
    )


def queue_campaign(
    store: Store,
    campaign: Campaign,
    *,
    skip_invalid: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> QueueReport:
    """Queue the campaign's valid rows, ``batch_rows`` to a transaction; nothing when a row
    was refused, unless ``skip_invalid``.

    Stopped midway, the batches already committed stay queued; queuing the same campaign again
    queues the rest and nobody twice.
    """
    if campaign.refused and not skip_invalid:
        raise InvalidMessage(
            f"{len(campaign.refused)} of {campaign.total} rows refused; nothing queued"
        )
    if _stamp(campaign.path) != campaign.stamp:
        raise InvalidMessage(f"{campaign.path} changed after it was checked; check it again")
    created = existing = 0
    batch: list[tuple[TemplateMessage, str]] = []

    def flush() -> None:
        nonlocal created, existing
        report: EnqueueReport = enqueue_many(store, batch)
        created += report.created
        existing += report.existing
        batch.clear()

    records = _records(campaign.path)
    _header(campaign.path, records, campaign.email_column, campaign.columns)
    for row in _checked_rows(campaign, records):
        if isinstance(row, _Valid):
            batch.append((row.message, row.key))
            if len(batch) >= batch_rows:
                flush()
    if batch:
        flush()
    return QueueReport(created, existing)


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Valid:
    line: int
    message: TemplateMessage
    key: str


def _checked_rows(
    plan: Campaign, records: Iterator[tuple[int, list[str]]]
) -> Iterator[_Valid | RefusedRow | DuplicateRow]:
    """Each data row, checked; a repeated address is a :class:`DuplicateRow`.

    Only a digest of each distinct address is remembered (with its line), not the rows.
    """
    seen: dict[bytes, int] = {}
    index = {name: n for n, name in enumerate(plan.header)}
    for line, fields in records:
        value = _cell(fields, index, plan.email_column).strip()
        if len(fields) > len(plan.header):
            yield RefusedRow(line, value, "more fields than the header names")
            continue
        try:
            message = TemplateMessage(
                sender=plan.sender,
                to=[value],
                template=plan.template,
                data={**plan.default_data, **{c: _cell(fields, index, c) for c in plan.columns}},
                tags=dict(plan.tags),
                configuration_set=plan.configuration_set,
                bulk=True,
                list_name=plan.list_name,
                tenant=plan.tenant,
            )
        except CourrierError as err:
            yield RefusedRow(line, value, str(err) or type(err).__name__)
            continue
        key = destination_key(plan.name, [message.recipients[0].email])
        digest = hashlib.sha256(key.encode()).digest()[:16]
        first = seen.setdefault(digest, line)
        yield _Valid(line, message, key) if first == line else DuplicateRow(line, value, first)


def _cell(fields: list[str], index: Mapping[str, int], column: str) -> str:
    position = index.get(column)
    return fields[position] if position is not None and position < len(fields) else ""


def _header(
    path: Path,
    records: Iterator[tuple[int, list[str]]],
    email_column: str,
    data_columns: Sequence[str],
) -> tuple[str, ...]:
    first = next(records, None)
    header = tuple(first[1]) if first else ()
    if email_column not in header:
        raise InvalidMessage(f"{path}: no {email_column!r} column (columns: {', '.join(header)})")
    missing = [c for c in data_columns if c not in header]
    if missing:
        raise InvalidMessage(f"{path}: no column {', '.join(map(repr, missing))}")
    return header


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, its fields) for each record, blank lines skipped.

    ``strict``: an unterminated quote would otherwise swallow the rest of the file into one
    field without a word.
    """
    reader = csv.reader(_lines(path), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InvalidMessage(f"{path}: line {start}: {err}") from err
        if fields:
            yield start, fields
        start = reader.line_num + 1


def _lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded one at a time (a UTF-8 byte sequence never contains the
    newline byte, so a line is always whole characters); a BOM is dropped."""
    try:
        with path.open("rb") as file:
            for number, read in enumerate(file, start=1):
                raw = (
                    read[len(codecs.BOM_UTF8) :]
                    if number == 1 and read.startswith(codecs.BOM_UTF8)
                    else read
                )
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InvalidMessage(
                        f"{path}: line {number} is not UTF-8 (byte 0x{raw[err.start]:02x} at "
                        f"column {err.start + 1}): the file must be UTF-8"
                    ) from err
    except OSError as err:
        raise InvalidMessage(f"cannot read {path}: {err.strerror or err}") from err


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = os.stat(path)
    except OSError as err:
        raise InvalidMessage(f"cannot read {path}: {err.strerror or err}") from err
    return (status.st_size, status.st_mtime_ns)
