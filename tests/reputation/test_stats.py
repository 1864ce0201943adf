"""The rates as SES counts them: exact on real sandbox traffic, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import update

from courrier.reputation import report, window
from courrier.settings import Settings
from courrier.statuses import MessageStatus
from courrier.store import Store, rollups
from courrier.store.stats import Counting, counts
from courrier.store.tables import MessageRow
from tests.conftest import SandboxClient
from tests.reputation import scenario


def test_every_figure_of_real_traffic(env: SandboxClient, store: Store) -> None:
    started = scenario.run(env, store)
    today = started.strftime("%Y-%m-%d")
    settings = Settings(database_url="unused")

    result = report(store, settings, days=3)
    assert list(result.days) == [
        (started - dt.timedelta(days=2)).strftime("%Y-%m-%d"),
        (started - dt.timedelta(days=1)).strftime("%Y-%m-%d"),
        today,
    ]
    assert result.days[today].as_dict() == scenario.EXPECTED
    for day, figures in result.days.items():
        if day != today:
            assert figures.counts.recipients == 0
            assert figures.bounce_rate is None
    assert result.window.figures.as_dict() == scenario.EXPECTED
    assert result.window.since <= started

    simulated = dataclasses.replace(settings, reputation_count_simulator=True)
    counted = window(store, simulated).figures.as_dict()
    assert counted == pytest.approx(scenario.EXPECTED_WITH_SIMULATOR)

    no_deny_list = dataclasses.replace(simulated, reputation_no_complaint_feedback_domains=())
    assert window(store, no_deny_list).figures.counts.complaint_recipients == 188


def sent(store: Store, address: str, when: dt.datetime) -> None:
    """A message SES accepted, created at ``when``."""
    record = store.record_message(
        sender="a@example.com",
        subject="s",
        configuration_set=None,
        recipients=[(address, "to", "pending")],
    )
    store.finish_send(record, status=MessageStatus.SENT, ses_message_id=f"ses-{address}")
    with store.transaction() as session:
        session.execute(update(MessageRow).where(MessageRow.id == record).values(created_at=when))
        # Moved behind the store's back: its hour's rollups are recounted.
        rollups.rebuild(session)


def test_days_are_utc_and_the_window_is_a_volume(store: Store) -> None:
    now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    for n in range(3):
        sent(store, f"old{n}@example.com", now - dt.timedelta(days=40))
    for n in range(4):
        sent(store, f"monday{n}@example.com", dt.datetime(2026, 3, 9, 23, 59, 59, tzinfo=dt.UTC))
    for n in range(2):
        sent(store, f"tuesday{n}@example.com", dt.datetime(2026, 3, 10, 0, 0, 1, tzinfo=dt.UTC))
    settings = Settings(database_url="unused", reputation_window=5, reputation_window_days=30)

    result = report(store, settings, days=2, now=now)
    assert {day: f.counts.recipients for day, f in result.days.items()} == {
        "2026-03-09": 4,
        "2026-03-10": 2,
    }
    # The latest five: both of Tuesday's and (a tie at the cut) all four of Monday's.
    assert result.window.since == dt.datetime(2026, 3, 9, 23, 59, 59, tzinfo=dt.UTC)
    assert result.window.figures.counts.counted_recipients == 6
    small = dataclasses.replace(settings, reputation_window=2)
    assert window(store, small, now=now).figures.counts.counted_recipients == 2
    # Never older than the day limit, however small the volume.
    everything = dataclasses.replace(settings, reputation_window=1000)
    assert window(store, everything, now=now).figures.counts.counted_recipients == 6
    assert counts(store, Counting(), since=now - dt.timedelta(days=400)).recipients == 9


def test_an_empty_store_has_no_rates(store: Store) -> None:
    result = report(store, Settings(database_url="unused"), days=1)
    assert result.window.figures.bounce_rate is None
    assert result.window.figures.complaint_rate is None
    assert result.level("bounce_rate") == "low volume"
