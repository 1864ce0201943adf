"""Feedback timestamps with offsets: converted to UTC at decode time, stored and read back
unchanged on both stores; what no store can hold is missing, never stored wrong."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from courrier.feedback import decode
from courrier.feedback.apply import apply
from courrier.feedback.decode import EARLIEST, LATEST, parse_timestamp
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.store.search import message_detail
from tests.conftest import postgres_schema
from tests.feedback.test_decode import envelope, sample

_ids = itertools.count()

#: Offsets as SES-like text can carry them: whole minutes, under a day either way.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)
wall_clocks = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))


def render(wall: dt.datetime, offset: int, shape: str, fraction: str) -> str:
    """``wall`` at ``offset`` minutes east of UTC, written the ways SES (and worse) write it."""
    text = wall.isoformat(timespec=fraction)
    if shape == "Z" and offset == 0:
        return text + "Z"
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    if shape == "compact":
        return f"{text}{sign}{hours:02}{minutes:02}"
    if shape == "spaced":
        return f"{text} {sign}{hours:02}{minutes:02}"  # as one AWS example writes it
    return f"{text}{sign}{hours:02}:{minutes:02}"


def expected_utc(wall: dt.datetime, offset: int, fraction: str) -> dt.datetime | None:
    """The UTC instant, worked out by arithmetic on the wall clock, or None when no store
    can hold it."""
    kept = dt.datetime.fromisoformat(wall.isoformat(timespec=fraction))
    try:
        utc = (kept - dt.timedelta(minutes=offset)).replace(tzinfo=dt.UTC)
    except OverflowError:
        return None
    return utc if EARLIEST <= utc <= LATEST else None


stamps = st.tuples(
    wall_clocks,
    offsets,
    st.sampled_from(["Z", "colon", "compact", "spaced"]),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)


def bounce_body(ses_message_id: str, timestamp: str, sns_id: str) -> str:
    payload = sample("S1")
    payload["mail"]["messageId"] = ses_message_id
    payload["bounce"]["timestamp"] = timestamp
    payload["bounce"]["feedbackId"] = f"feedback-{sns_id}"
    return envelope(payload, message_id=sns_id)


@settings(max_examples=500, deadline=None)
@given(stamp=stamps)
@example(stamp=(dt.datetime(1, 1, 1), 14 * 60, "colon", "seconds"))
@example(stamp=(dt.datetime(9999, 12, 31, 23, 59, 59), -14 * 60, "colon", "seconds"))
@example(stamp=(dt.datetime(2024, 5, 14, 23, 30), 2 * 60, "colon", "seconds"))
def test_decode_converts_every_offset_to_utc(stamp: tuple[dt.datetime, int, str, str]) -> None:
    wall, offset, shape, fraction = stamp
    text = render(wall, offset, shape, fraction)
    (event,) = decode(bounce_body("ses-1", text, "sns-1")).events
    want = expected_utc(wall, offset, fraction)
    assert event.timestamp == want, text
    if event.timestamp is not None:
        assert event.timestamp.utcoffset() == dt.timedelta(0)
        assert event.timestamp.tzinfo is dt.UTC


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        # In range for Python, but read back as year 0 by a PostgreSQL session west of UTC.
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "10000-01-01T00:00:00Z",
        "x",
    ],
)
def test_what_no_store_can_hold_is_missing(text: str) -> None:
    assert parse_timestamp(text) is None


def _stored_time(store: Store, text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Decode a bounce at ``text``, store it, read it back as the message page does."""
    n = next(_ids)
    ses_id = f"ses-time-{n}"
    message = store.record_message(
        sender="s@example.com",
        subject="s",
        configuration_set=None,
        recipients=[("gone@example.net", "to", "pending")],
    )
    store.finish_send(message, status=MessageStatus.SENT, ses_message_id=ses_id)
    decoded = decode(bounce_body(ses_id, text, f"sns-time-{n}"))
    apply(store, [decoded])
    detail = message_detail(store, message)
    assert detail is not None
    (event,) = detail.events
    return decoded.events[0].timestamp, event.occurred_at


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stamp=stamps)
@example(stamp=(dt.datetime(1, 1, 1), 14 * 60, "colon", "seconds"))
@example(stamp=(dt.datetime(9999, 12, 31, 23, 59, 59), -14 * 60, "colon", "seconds"))
@example(stamp=(dt.datetime(1, 1, 2), 0, "Z", "seconds"))
@example(stamp=(dt.datetime(9999, 12, 30, 23, 59, 59, 999999), 0, "Z", "microseconds"))
@example(stamp=(dt.datetime(2024, 5, 14, 23, 30), -5 * 60, "compact", "seconds"))
def test_stored_times_read_back_as_decoded(
    store: Store, stamp: tuple[dt.datetime, int, str, str]
) -> None:
    wall, offset, shape, fraction = stamp
    decoded, stored = _stored_time(store, render(wall, offset, shape, fraction))
    assert decoded == expected_utc(wall, offset, fraction)
    assert stored == decoded


@pytest.fixture(params=["America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"])
def zoned_postgres(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A PostgreSQL store whose sessions run in a time zone far from UTC: it hands
    ``timestamptz`` values back in that zone."""
    with postgres_schema() as url:
        opened = Store(f"{url}%20-cTimeZone%3D{request.param}")
        yield opened
        opened.close()


@pytest.mark.postgres
@pytest.mark.parametrize("text", ["0001-01-02T00:00:00Z", "9999-12-30T23:59:59.999999Z"])
def test_the_extremes_read_back_in_any_session_time_zone(zoned_postgres: Store, text: str) -> None:
    decoded, stored = _stored_time(zoned_postgres, text)
    assert decoded is not None
    assert stored == decoded
