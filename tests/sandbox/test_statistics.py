"""GetSendStatistics and the quotas from the sandbox's own traffic (docs/ses.md#limits,
#sending-at-volume)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3

from courrier_sandbox.ses.statistics import KEPT, PERIOD, SendStatistics
from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import send

SIM = "simulator.amazonses.com"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
FRIENDS = ["ann@example.net", "bob@example.net"]


def totals(points: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("DeliveryAttempts", "Bounces", "Complaints", "Rejects")
    return {k: sum(int(p[k]) for p in points) for k in keys}


def test_data_points_count_real_traffic(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    for address in FRIENDS:
        sandbox.ses.verify_email_identity(EmailAddress=address)
    assert sandbox.ses.get_send_statistics()["SendDataPoints"] == []
    send(sandbox, "v1", [f"success@{SIM}", f"bounce@{SIM}", f"complaint@{SIM}"])
    send(sandbox, "v2", [f"bounce+again@{SIM}"])
    send(sandbox, "v2-raw", FRIENDS[:1], attachment=EICAR)
    sandbox.drain()
    points = sandbox.ses.get_send_statistics()["SendDataPoints"]
    assert totals(points) == {
        "DeliveryAttempts": 5,  # recipients of the messages SES tried to send
        "Bounces": 2,
        "Complaints": 1,
        "Rejects": 1,
    }
    for point in points:
        stamp: dt.datetime = point["Timestamp"]
        assert (stamp.minute % 15, stamp.second, stamp.microsecond) == (0, 0, 0)
        assert dt.datetime.now(dt.UTC) - stamp < dt.timedelta(minutes=15)


def test_the_quota_counts_what_the_statistics_count_but_simulator_mail(
    sandbox: SandboxClient,
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    for address in FRIENDS:
        sandbox.ses.verify_email_identity(EmailAddress=address)
    send(sandbox, "v1", FRIENDS)
    send(sandbox, "v2", FRIENDS[:1])
    sandbox.drain()
    attempts = totals(sandbox.ses.get_send_statistics()["SendDataPoints"])["DeliveryAttempts"]
    assert attempts == 3
    assert sandbox.ses.get_send_quota()["SentLast24Hours"] == 3.0
    assert sandbox.sesv2.get_account()["SendQuota"]["SentLast24Hours"] == 3.0
    # Simulator mail counts toward the rate, not the quota (docs/ses.md#mailbox-simulator):
    # statistics only.
    send(sandbox, "v2", [f"success@{SIM}"])
    sandbox.drain()
    assert totals(sandbox.ses.get_send_statistics()["SendDataPoints"])["DeliveryAttempts"] == 4
    assert sandbox.sesv2.get_account()["SendQuota"]["SentLast24Hours"] == 3.0


def test_statistics_are_kept_per_region(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    send(sandbox, "v1", [f"success@{SIM}"])
    sandbox.drain()
    other = boto3.client(
        "ses",
        endpoint_url=sandbox.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert other.get_send_statistics()["SendDataPoints"] == []
    assert len(sandbox.ses.get_send_statistics()["SendDataPoints"]) == 1


def test_periods_of_fifteen_minutes_over_two_weeks() -> None:
    statistics = SendStatistics()
    start = 1_700_000_400.0  # five minutes into a period
    statistics.count(start, "DeliveryAttempts", 2)
    statistics.count(start + 599, "Bounces")  # the same period
    statistics.count(start + 600, "DeliveryAttempts")  # the next one
    points = statistics.data_points(start + 600)
    assert [p["Timestamp"] for p in points] == [start - 300, start - 300 + PERIOD]
    assert [(p["DeliveryAttempts"], p["Bounces"]) for p in points] == [(2, 1), (1, 0)]
    # Two weeks later the first periods are gone, from the answer and from memory.
    later = start + KEPT + PERIOD
    statistics.count(later, "Rejects")
    assert [p["Rejects"] for p in statistics.data_points(later)] == [1]
    assert len(statistics.periods) == 1
