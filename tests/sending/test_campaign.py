"""CSV campaigns: bounded transactions, other writers between them, and the file's rows
accounted for one by one (hypothesis)."""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from courrier.errors import InvalidMessage
from courrier.message import Message
from courrier.sending.campaign import DuplicateRow, queue_campaign, read_campaign
from courrier.sending.outbox import enqueue
from courrier.store import Store
from courrier.store import outbox as rows
from tests.fakes import wait_until

SENDER = "news@example.com"


class WatchedStore(Store):
    """A real store that runs its ``hooks`` once each write transaction has committed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.hooks: list[Callable[[], object]] = []

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        with super().transaction(read_only=read_only) as session:
            yield session
        if not read_only:
            for hook in self.hooks:
                hook()


def write_list(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name"])
        for n in range(count):
            writer.writerow([f"reader{n}@example.net", f"Reader {n}"])


def test_rows_are_queued_in_bounded_transactions(database_url: str, tmp_path: Path) -> None:
    write_list(tmp_path / "list.csv", 1234)
    store = WatchedStore(database_url)
    sizes: list[int] = []
    store.hooks.append(lambda: sizes.append(rows.counts(store)["queued"] - sum(sizes)))
    plan = read_campaign(tmp_path / "list.csv", template="news", sender=SENDER)
    report = queue_campaign(store, plan, batch_rows=100)
    store.close()
    assert (report.created, report.existing) == (1234, 0)
    assert sizes == [100] * 12 + [34]


def test_the_store_opens_and_takes_writes_while_a_bulk_import_runs(tmp_path: Path) -> None:
    """SQLite: another engine opens the store and writes between two batches of an import."""
    url = f"sqlite:///{tmp_path}/shared.db"
    write_list(tmp_path / "list.csv", 3000)
    importer = WatchedStore(url)
    importer.hooks.append(lambda: time.sleep(0.02))  # a slow import: it keeps going a while
    plan = read_campaign(tmp_path / "list.csv", template="news", sender=SENDER)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            queue_campaign(importer, plan, batch_rows=100)
        except BaseException as err:  # reported by the assertion below
            failures.append(err)

    thread = threading.Thread(target=run)
    thread.start()

    def queued_so_far() -> int:
        observer = Store(url)  # opened while the import runs: no write lock needed
        try:
            return rows.counts(observer)["queued"]
        finally:
            observer.close()

    seen = wait_until(queued_so_far, timeout=60)
    other = Store(url)
    started = time.monotonic()
    entry = enqueue(
        other,
        Message(sender=SENDER, to=["one@example.net"], subject="s", text="t"),
        key="transactional",
    )
    waited = time.monotonic() - started
    in_progress = thread.is_alive()
    other.close()
    thread.join()
    importer.close()
    assert failures == []
    assert 0 < seen < 3000  # the first batches were visible before the import ended
    assert entry.key == "transactional"
    assert in_progress
    assert waited < 2  # one batch's transaction at most, not the whole import


# ---------------------------------------------------------------------------- properties

#: Each mailbox in several spellings that SES takes as the same destination.
MAILBOXES = [
    [
        "ana@bücher.example",
        "ANA@BÜCHER.EXAMPLE",
        "ana@xn--bcher-kva.example",
        "Ana <ana@bücher.example>",
    ],
    ["bob@example.com", "Bob@Example.COM", '"Bob, B." <bob@example.com>'],
    ["cy@example.org"],
]
INVALID = ["", "no-at-sign", "two@@example.com", "zoë@example.com", "new\nline@example.com"]

cell_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"),
    max_size=12,
)
ok_row = st.tuples(st.just("ok"), st.integers(0, len(MAILBOXES) - 1), st.integers(0, 3), cell_text)
row_spec = st.one_of(
    ok_row, st.tuples(st.just("bad"), st.integers(0, len(INVALID) - 1), st.just(0), cell_text)
)


def render_rows(specs: list[tuple[str, int, int, str]]) -> tuple[str, list[int]]:
    """The CSV text and the line each data row starts on (counted from the text itself)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "note"])
    starts: list[int] = []
    for kind, which, form, note in specs:
        starts.append(out.getvalue().count("\n") + 1)
        if kind == "ok":
            spellings = MAILBOXES[which]
            writer.writerow([spellings[form % len(spellings)], note])
        else:
            writer.writerow([INVALID[which], note])
    return out.getvalue(), starts


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(row_spec, max_size=25))
def test_every_row_is_queued_refused_or_a_listed_duplicate(
    specs: list[tuple[str, int, int, str]], tmp_path: Path, store: Store
) -> None:
    text, starts = render_rows(specs)
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text(text, encoding="utf-8")
    plan = read_campaign(path, template="news", sender=SENDER, campaign=uuid.uuid4().hex)
    first_line: dict[int, int] = {}
    expected_refused, expected_duplicates = [], []
    for (kind, which, _, _), line in zip(specs, starts, strict=True):
        if kind == "bad":
            expected_refused.append(line)
        elif which in first_line:
            expected_duplicates.append((line, first_line[which]))
        else:
            first_line[which] = line
    assert plan.total == len(specs)
    assert [r.line for r in plan.refused] == expected_refused
    assert [(d.line, d.first_line) for d in plan.duplicates] == expected_duplicates
    assert plan.valid == len(first_line)
    assert plan.total == plan.valid + len(plan.refused) + len(plan.duplicates)
    report = queue_campaign(store, plan, skip_invalid=True, batch_rows=4)
    assert (report.created, report.existing) == (len(first_line), 0)
    again = queue_campaign(store, plan, skip_invalid=True, batch_rows=3)
    assert (again.created, again.existing) == (0, len(first_line))


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(ok_row, min_size=1, max_size=15),
    data=st.data(),
)
def test_a_byte_that_is_not_utf8_is_named_by_its_line(
    specs: list[tuple[str, int, int, str]],
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    text, _ = render_rows(specs)
    encoded = text.encode("utf-8")
    at = data.draw(st.integers(0, len(encoded)))
    # 0xff never occurs in UTF-8; put it where a character starts.
    while at < len(encoded) and (encoded[at] & 0xC0) == 0x80:
        at += 1
    broken = encoded[:at] + b"\xff" + encoded[at:]
    path = tmp_path_factory.mktemp("enc") / "list.csv"
    path.write_bytes(broken)
    line = encoded[:at].count(b"\n") + 1
    with pytest.raises(InvalidMessage, match=rf"line {line} is not UTF-8 .*must be UTF-8"):
        read_campaign(path, template="news", sender=SENDER)


def test_a_quote_left_open_is_refused_at_its_line_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text('email,note\na@example.net,x\nb@example.net,"open\nc@example.net,y\n')
    with pytest.raises(InvalidMessage, match="line 3: unexpected end of data"):
        read_campaign(path, template="news", sender=SENDER)


def test_duplicates_name_the_line_they_repeat(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email\nA@example.net\n\na@EXAMPLE.net\n")
    plan = read_campaign(path, template="news", sender=SENDER)
    assert plan.duplicates == (DuplicateRow(4, "a@EXAMPLE.net", 2),)
