"""Poison bodies: refused one by one, never stopping, wedging or corrupting the worker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, String

from courrier.aws.sqs import QueueMessage
from courrier.cli import main
from courrier.errors import UndecodableMessage
from courrier.feedback import decode
from courrier.feedback.apply import apply
from courrier.feedback.limits import FIELD_LIMITS
from courrier.feedback.worker import Worker
from courrier.store import Store
from tests.conftest import postgres_schema
from tests.fakes import ListQueue
from tests.feedback.poison import bounce, opened, poison_bodies, wrapped

POISON = poison_bodies()


@pytest.mark.parametrize("name", sorted(POISON))
def test_each_poison_body_is_undecodable(name: str) -> None:
    with pytest.raises(UndecodableMessage):
        decode(POISON[name])


@pytest.mark.parametrize("name", ["deep-body", "deep-message", "surrogate-recipient"])
def test_cli_decode_refuses_poison_with_exit_2(name: str) -> None:
    result = CliRunner().invoke(main, ["decode"], input=POISON[name])
    assert result.exit_code == 2, result.output
    assert "cannot decode" in result.output
    assert "Traceback" not in result.output


def test_the_limits_are_generous_for_what_aws_sends() -> None:
    longest = bounce(
        1,
        ses_id="0100018f761c23f5-8d0b6f2e-7a44-4c3f-b1a9-6e2f0d4c9b77-000000",
        recipient="a" * 64 + "@" + "d" * 240 + ".example",
        feedback_id="0100018f761c2a11-5c2e8b3a-1f4d-4b8e-9a61-2d9c0f7e5a10-000000",
    )
    topic = "arn:aws:sns:ap-southeast-2:123456789012:" + "t" * 256
    decoded = decode(wrapped(longest, TopicArn=topic))
    assert decoded.events[0].recipient is not None


# ---------------------------------------------------------------- property: decode, then store


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Store]]:
    """A SQLite file and, where PostgreSQL runs, a PostgreSQL schema: both must agree."""
    sqlite = Store(f"sqlite:///{tmp_path_factory.mktemp('poison')}/poison.db")
    with contextlib.ExitStack() as stack:
        opened = [sqlite]
        with contextlib.suppress(pytest.skip.Exception):  # no PostgreSQL here: SQLite only
            opened.append(Store(stack.enter_context(postgres_schema())))
        yield opened
        for store in opened:
            store.close()


_poison_text = st.one_of(
    st.text(max_size=40),
    st.text(min_size=90, max_size=400),
    st.text(max_size=10).map(lambda t: t + "\x00"),
    st.sampled_from(["\ud800", "\udfff@x", "a\udc80b"]),
)
_targets = st.sampled_from(
    ["ses_id", "recipient", "feedback_id", "MessageId", "TopicArn", "open-ip"]
)
_serial = iter(range(10**9))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=_targets, value=_poison_text)
def test_whatever_decodes_can_be_stored_on_every_store(
    stores: list[Store], target: str, value: str
) -> None:
    n = next(_serial)
    payload: dict[str, Any] | str = bounce(n)
    fields = {"MessageId": f"prop-{n}"}
    if target in ("MessageId", "TopicArn"):
        fields[target] = value
    elif target == "open-ip":
        payload = opened(n, value)
    else:
        payload = bounce(n, **{target: value})
    body = wrapped(payload, **fields)
    try:
        decoded = decode(body)
    except UndecodableMessage:
        return
    for store in stores:
        apply(store, [decoded])  # never an InvalidRecord: decode refused what cannot be stored


def width(column: ColumnElement[Any]) -> int:
    """The length a string column is declared with."""
    kind = column.type
    assert isinstance(kind, String), column
    assert kind.length is not None, column
    return kind.length


def test_decode_limits_fit_the_store_columns() -> None:
    from courrier.store.tables import FeedbackEventRow, SnsReceiptRow

    columns = FeedbackEventRow.__table__.columns
    widths = {
        "sns_message_id": width(SnsReceiptRow.__table__.columns["sns_message_id"]),
        "topic_arn": width(columns["topic_arn"]),
        "ses_message_id": width(columns["ses_message_id"]),
        "recipient": width(columns["recipient"]),
        "feedback_id": width(columns["feedback_id"]),
        "tenant": width(columns["tenant"]),
    }
    for field, limit in FIELD_LIMITS.items():
        assert widths[field] >= limit, field


def test_long_event_keys_stay_distinct(store: Store) -> None:
    """Two clicks on long links that share a prefix are two events, not a duplicate."""
    click: dict[str, Any] = {
        "eventType": "Click",
        "mail": {"messageId": "m-1", "destination": ["a@example.com"]},
        "click": {"ipAddress": "192.0.2.1", "timestamp": "2024-05-14T14:03:19.652Z"},
    }
    prefix = "https://example.com/" + "p" * 500
    first = {**click, "click": {**click["click"], "link": prefix + "/one"}}
    second = {**click, "click": {**click["click"], "link": prefix + "/two"}}
    applied = apply(store, [decode(json.dumps(first)), decode(json.dumps(second))])
    assert len(applied.stored) == 2
    assert applied.duplicates == 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    poison=st.lists(st.sampled_from(sorted(POISON)), min_size=1, max_size=5),
    good=st.integers(min_value=1, max_value=5),
)
@pytest.mark.parametrize("concurrency", [1, 4], ids=["one-batch", "concurrent"])
def test_worker_batches_apply_the_good_and_leave_only_the_poison(
    stores: list[Store], poison: list[str], good: int, concurrency: int
) -> None:
    first = next(_serial)
    goods = [
        QueueMessage(
            f"good-{first}-{n}", "h", wrapped(bounce(first * 10 + n), MessageId=f"g-{first}-{n}"), 1
        )
        for n in range(good)
    ]
    bad = [QueueMessage(f"bad-{n}", "h", POISON[name], 1) for n, name in enumerate(poison)]
    batch = (
        [m for pair in zip(bad, goods, strict=False) for m in pair]
        + bad[len(goods) :]
        + goods[len(bad) :]
    )
    for store in stores:
        if concurrency == 1:
            queue = ListQueue()
            worker = Worker(queue, store)
            worker.process(batch)
        else:
            queue = ListQueue(batch)
            worker = Worker(queue, store, wait_seconds=0, concurrency=concurrency)
            worker.run(until_idle=True)
        assert sorted(queue.deleted) == sorted(m.message_id for m in goods)
        assert worker.stats.rejected == len(bad)
