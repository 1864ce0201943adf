"""The send rate shared through the store: the bucket, many senders, SES's rate, outages."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

import pytest
from sqlalchemy import text

from courrier.aws.ses import SesClient
from courrier.errors import AwsUnreachable, ConfigurationError, StoreUnavailable, StoreUnusable
from courrier.message import Message
from courrier.sending import Mailer, Pacer, SharedLimiter
from courrier.settings import SendRateScope, Settings
from courrier.store import Store, send_rate
from tests.conftest import REGION, SENDER, SandboxClient, free_port
from tests.fakes import FakeClock

SUCCESS = "success@simulator.amazonses.com"


def fake_limiter(
    store: Store, clock: FakeClock, rate: float = 10.0, burst: float = 1.0
) -> SharedLimiter:
    return SharedLimiter(
        store,
        "test",
        read_rate=lambda: rate,
        burst=burst,
        headroom=1.0,
        clock=clock,
        sleep=clock.sleep,
    )


# ---------------------------------------------------------------- the bucket (fake clock)


def test_a_burst_goes_at_once_then_the_rate_holds(store: Store) -> None:
    clock = FakeClock()
    limiter = fake_limiter(store, clock)  # 10 a second, one second of burst
    assert [limiter.acquire(1) for _ in range(10)] == [0.0] * 10
    assert limiter.acquire(1) == pytest.approx(0.1)
    for _ in range(50):
        limiter.acquire(1)
    assert clock.now - 1000.0 == pytest.approx(5.1)
    clock.now += 60.0  # idle: the bucket fills up to its size, no further
    assert [limiter.acquire(1) for _ in range(10)] == [0.0] * 10
    assert limiter.acquire(2) == pytest.approx(0.2)
    found = send_rate.read(store, "test")
    assert found is not None
    assert (found.admitted, found.max_send_rate, found.rate_source) == (73, 10.0, "ses")


def test_more_recipients_than_the_burst_wait_for_a_full_bucket_then_go(store: Store) -> None:
    clock = FakeClock()
    limiter = fake_limiter(store, clock, burst=1.0)
    assert limiter.acquire(4) == 0.0
    assert limiter.acquire(25) == pytest.approx(0.4)  # until the bucket holds its 10
    assert limiter.acquire(1) == pytest.approx(1.6)  # the 15 it owes, then one
    assert clock.now == pytest.approx(1002.0)


def test_senders_go_in_the_order_they_asked(store: Store) -> None:
    """Three senders ask at the same moment: each waits behind what was asked before it."""
    clock = FakeClock()
    asked = SharedLimiter(
        store, "test", read_rate=lambda: 10.0, headroom=1.0, clock=clock, sleep=lambda _: None
    )
    assert asked.acquire(10) == 0.0
    assert asked.acquire(25) == pytest.approx(1.0)  # a full bucket, then a debt of 15
    assert asked.acquire(1) == pytest.approx(2.6)  # not before the 25 are paid for
    assert clock.now == 1000.0


def test_the_burst_is_in_seconds_of_the_rate(store: Store) -> None:
    clock = FakeClock()
    limiter = fake_limiter(store, clock, rate=20.0, burst=0.5)
    assert [limiter.acquire(1) for _ in range(10)] == [0.0] * 10
    assert limiter.acquire(1) == pytest.approx(0.05)


def test_a_clock_behind_the_bucket_adds_nothing(store: Store) -> None:
    clock = FakeClock()
    limiter = fake_limiter(store, clock)
    limiter.acquire(10)
    clock.now -= 30.0  # another machine whose clock is late
    assert limiter.acquire(1) == pytest.approx(30.1)


def test_bad_limits_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="burst"):
        SharedLimiter(store, "x", read_rate=lambda: 1.0, burst=0)
    with pytest.raises(ValueError, match="rate"):
        SharedLimiter(store, "x", read_rate=lambda: 1.0, fixed_rate=-1)
    with pytest.raises(ValueError, match="positive"):
        SharedLimiter(store, "x", read_rate=lambda: 0.0).acquire(1)


# ---------------------------------------------------------------- the rate


def test_the_rate_is_re_read_from_ses_by_one_caller(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    answers: list[float | Exception] = [10.0, 20.0, AwsUnreachable("no route")]
    calls: list[float] = []

    def read_rate() -> float:
        calls.append(clock.now)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def limiter() -> SharedLimiter:
        return SharedLimiter(
            store,
            "test",
            read_rate=read_rate,
            recheck_after=300.0,
            clock=clock,
            sleep=clock.sleep,
        )

    first, second = limiter(), limiter()
    first.acquire(1)
    second.acquire(1)
    clock.now += 299.0
    first.acquire(1)
    second.acquire(1)
    assert calls == [1000.0]
    clock.now += 1.0
    first.acquire(1)
    second.acquire(1)
    assert calls == [1000.0, 1300.0]
    assert first.rate == second.rate == 20.0
    clock.now += 300.0
    with caplog.at_level(logging.WARNING):
        second.acquire(1)  # SES unreachable: the stored rate stays, the send goes
    assert "re-reading the max send rate" in caplog.text
    assert first.rate == 20.0


def test_the_setting_fixes_the_rate_and_ses_is_not_asked(store: Store) -> None:
    clock = FakeClock()

    def read_rate() -> float:
        raise AssertionError("SES asked")

    limiter = SharedLimiter(
        store, "test", read_rate=read_rate, fixed_rate=5.0, clock=clock, sleep=clock.sleep
    )
    send_rate.set_rate(store, "test", 50.0, source="ses", burst=1.0, now=clock.now)
    assert [limiter.acquire(1) for _ in range(5)] == [0.0] * 5  # the bucket shrank to 5
    assert limiter.acquire(1) > 0
    found = send_rate.read(store, "test")
    assert found is not None
    assert (found.max_send_rate, found.rate_source) == (5.0, "setting")


def hello(to: str = SUCCESS) -> Message:
    return Message(sender=SENDER, to=(to,), subject="Hi", text="Hello")


def test_mailers_share_the_store_and_read_the_rate_from_ses(
    sandbox: SandboxClient, store: Store, ses: SesClient
) -> None:
    sandbox.set_account(max_send_rate=7.0)
    settings = Settings(send_rate_recheck=0.0)
    mailer = Mailer(store, ses, settings=settings)
    assert isinstance(mailer.pacer, SharedLimiter)
    assert mailer.send(hello()).sent
    assert mailer.pacer.rate == 7.0
    sandbox.set_account(max_send_rate=9.0)
    assert Mailer(store, ses, settings=settings).send(hello()).sent
    found = send_rate.read(store, REGION)
    assert found is not None
    assert (found.max_send_rate, found.rate_source, found.admitted) == (9.0, "ses", 2)


def test_the_scope_setting_is_checked(store: Store, ses: SesClient) -> None:
    assert isinstance(
        Mailer(store, ses, settings=Settings(send_rate_scope=SendRateScope.PROCESS)).pacer, Pacer
    )
    with pytest.raises(ConfigurationError, match="send_rate_scope"):
        Mailer(store, ses, settings=Settings(send_rate_scope="machine"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="send_burst"):
        Mailer(store, ses, settings=Settings(send_burst=0.0))
    with pytest.raises(ConfigurationError, match="max_send_rate"):
        Mailer(store, ses, settings=Settings(max_send_rate=-3.0))


def test_the_max_send_rate_setting_replaces_ses_s(
    sandbox: SandboxClient, store: Store, ses: SesClient
) -> None:
    sandbox.set_account(max_send_rate=7.0)
    assert Mailer(store, ses, settings=Settings(max_send_rate=3.0)).send(hello()).sent
    found = send_rate.read(store, REGION)
    assert found is not None
    assert (found.max_send_rate, found.rate_source) == (3.0, "setting")


# ---------------------------------------------------------------- the store fails


def test_a_store_that_fails_while_acquiring_sends_nothing(
    sandbox: SandboxClient, store: Store, ses: SesClient
) -> None:
    sandbox.set_account(production=True)
    mailer = Mailer(store, ses)
    assert mailer.send(hello("first@example.org")).sent
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE send_rates"))
    with pytest.raises(StoreUnusable):
        mailer.send(hello("second@example.org"))
    sandbox.drain()
    delivered = sandbox.control("GET", "/mailbox?kind=delivery")["messages"]
    assert [letter["recipient"] for letter in delivered] == ["first@example.org"]
    # The tokens are taken in the send's intent: its transaction failed as a whole, so the
    # message was neither recorded nor sent.
    assert store.message(2) is None


def test_an_unreachable_store_sends_nothing(
    sandbox: SandboxClient, store: Store, ses: SesClient
) -> None:
    sandbox.set_account(production=True)
    gone = Store(f"postgresql://postgres@127.0.0.1:{free_port()}/test", migrate=False)
    limiter = SharedLimiter(gone, REGION, read_rate=lambda: 100.0)
    mailer = Mailer(store, ses, pacer=limiter)
    with pytest.raises(StoreUnavailable):
        mailer.send(hello("first@example.org"))
    sandbox.drain()
    assert sandbox.control("GET", "/mailbox")["messages"] == []
    gone.close()


# ---------------------------------------------------------------- many senders at once

RATE = 200.0
BURST = 0.1  # seconds: 20 recipients
WINDOW = 0.5
#: A send is timed after ``acquire`` returns, after the bucket admitted it (later still on a
#: busy machine).
LATE = 0.2


def most_in_a_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] < moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def assert_within_the_rate(times: list[float]) -> None:
    burst = RATE * BURST
    allowed = burst + RATE * (WINDOW + LATE)
    assert most_in_a_window(times, WINDOW) <= allowed
    # Over the whole run too; without the limiter all of them would go at once.
    assert max(times) - min(times) >= (len(times) - burst) / RATE - LATE
    assert len(times) > allowed


def acquire_many(url: str, count: int, ready: threading.Barrier) -> list[float]:
    store = Store(url, migrate=False)
    limiter = SharedLimiter(store, "shared", read_rate=lambda: RATE, burst=BURST)
    ready.wait(60)  # every sender set up, they all start at once
    times = []
    for _ in range(count):
        limiter.acquire(1)
        times.append(time.time())
    store.close()
    return times


def test_threads_sharing_a_store_stay_within_rate_and_burst(
    store: Store, database_url: str
) -> None:
    results: list[list[float]] = []
    ready = threading.Barrier(4)

    def run() -> None:
        results.append(acquire_many(database_url, 60, ready))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    times = [t for result in results for t in result]
    assert len(times) == 240
    assert_within_the_rate(times)
    found = send_rate.read(store, "shared")
    assert found is not None
    assert found.admitted == 240


def test_processes_sharing_a_store_stay_within_rate_and_burst(
    store: Store, database_url: str
) -> None:
    context = multiprocessing.get_context("spawn")
    start = time.time()
    with context.Manager() as manager, context.Pool(3) as pool:
        ready = manager.Barrier(3)  # every process has imported courrier and set up first
        results = pool.starmap(acquire_many, [(database_url, 70, ready)] * 3, chunksize=1)
    times = [t for result in results for t in result]
    assert len(times) == 210
    assert min(times) >= start
    assert_within_the_rate(times)
    found = send_rate.read(store, "shared")
    assert found is not None
    assert found.admitted == 210
