"""Recipients that are slow, gone or hostile: DeliveryDelay events, the suppression list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    ALL_EVENT_TYPES,
    CONFIG_SET,
    control_error,
    kinds,
    letters,
    notifications_route,
    only,
    quiet_events_route,
    send,
)

SLOW = "slow@example.net"
GONE = "gone@example.net"
ANGRY = "angry@example.net"


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def verified(sandbox: SandboxClient, *addresses: str) -> None:
    for address in addresses:
        sandbox.ses.verify_email_identity(EmailAddress=address)


def listed(sandbox: SandboxClient) -> dict[str, str]:
    sandbox.drain()
    found = sandbox.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"]
    return {s["EmailAddress"]: s["Reason"] for s in found}


@pytest.mark.parametrize("api", ["v1", "v2-raw"])
def test_a_slow_recipient_is_delayed_then_delivered(sandbox: SandboxClient, api: str) -> None:
    rule = sandbox.control("POST", "/recipients", {"pattern": "slow*@Example.NET", "after": 0})
    assert rule["rules"][0]["outcome"] == "delay"
    verified(sandbox, SLOW)
    pipeline = quiet_events_route(sandbox)
    message_id = send(sandbox, api, [SLOW], configuration_set=CONFIG_SET)
    events = sandbox.feedback(pipeline.queue_url)
    assert kinds(events) == ["Delivery", "DeliveryDelay", "Send"]
    [delay] = only(events, "DeliveryDelay")
    body = delay["deliveryDelay"]
    assert body["delayType"] == "TransientCommunicationFailure"
    assert body["delayedRecipients"] == [
        {
            "emailAddress": SLOW,
            "status": "4.4.1",
            "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
        }
    ]
    assert body["reportingMTA"].endswith(".amazonses.com")
    sent_at = when(delay["mail"]["timestamp"])
    # Without MaxDeliverySeconds SES keeps trying for the longest time it allows: 14 hours.
    assert when(body["expirationTime"]) - sent_at == dt.timedelta(hours=14)
    assert (
        sent_at
        < when(body["timestamp"])
        < when(only(events, "Delivery")[0]["delivery"]["timestamp"])
    )
    assert delay["mail"]["messageId"] == message_id
    assert [letter["ses_message_id"] for letter in letters(sandbox, SLOW)] == [message_id]


def test_identity_notifications_have_no_delivery_delay(sandbox: SandboxClient) -> None:
    sandbox.control("POST", "/recipients", {"pattern": SLOW, "after": 0})
    verified(sandbox, SLOW)
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    send(sandbox, "v2", [SLOW])
    assert kinds(sandbox.feedback(pipeline.queue_url)) == ["Delivery"]


def test_a_delay_that_ends_in_a_soft_bounce(sandbox: SandboxClient) -> None:
    sandbox.control(
        "POST",
        "/recipients",
        {"pattern": SLOW, "delay_type": "MailboxFull", "then": "bounce", "after": 0},
    )
    verified(sandbox, SLOW)
    pipeline = quiet_events_route(sandbox)
    sandbox.sesv2.put_configuration_set_delivery_options(
        ConfigurationSetName=CONFIG_SET, MaxDeliverySeconds=600
    )
    send(sandbox, "v2", [SLOW], configuration_set=CONFIG_SET)
    events = sandbox.feedback(pipeline.queue_url)
    assert kinds(events) == ["Bounce", "DeliveryDelay", "Send"]
    [delay] = only(events, "DeliveryDelay")
    expires = when(delay["deliveryDelay"]["expirationTime"])
    assert expires - when(delay["mail"]["timestamp"]) == dt.timedelta(seconds=600)
    [bounce] = only(events, "Bounce")
    assert (bounce["bounce"]["bounceType"], bounce["bounce"]["bounceSubType"]) == (
        "Transient",
        "General",
    )
    assert bounce["bounce"]["bouncedRecipients"][0]["status"] == "4.2.2"
    assert letters(sandbox, SLOW) == []
    assert listed(sandbox) == {}  # soft bounces never reach the suppression list


def test_a_hard_bounce_is_listed_in_the_case_it_was_sent_to(sandbox: SandboxClient) -> None:
    sent_to = "Gone.User@Example.net"
    sandbox.control("POST", "/recipients", {"pattern": sent_to, "outcome": "bounce"})
    sandbox.set_account(production=True)
    verified(sandbox, SENDER)
    send(sandbox, "v2", [sent_to])
    assert listed(sandbox) == {sent_to: "BOUNCE"}


def test_hard_bounces_and_complaints_fill_the_suppression_list(sandbox: SandboxClient) -> None:
    sandbox.control("POST", "/recipients", {"pattern": GONE, "outcome": "bounce"})
    sandbox.control("POST", "/recipients", {"pattern": ANGRY, "outcome": "complaint"})
    verified(sandbox, GONE, ANGRY)
    pipeline = quiet_events_route(sandbox)
    first = send(sandbox, "v2", [GONE, ANGRY], configuration_set=CONFIG_SET)
    # The mailbox simulator's addresses never reach the list (docs/ses.md#mailbox-simulator).
    send(sandbox, "v2", ["bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"])
    events = sandbox.feedback(pipeline.queue_url)
    [bounce] = only(events, "Bounce")
    assert bounce["bounce"]["bouncedRecipients"][0]["status"] == "5.1.1"
    assert [letter["ses_message_id"] for letter in letters(sandbox, ANGRY)] == [first]
    assert listed(sandbox) == {GONE: "BOUNCE", ANGRY: "COMPLAINT"}
    entry = sandbox.sesv2.get_suppressed_destination(EmailAddress=GONE)["SuppressedDestination"]
    assert entry["Attributes"] == {
        "MessageId": first,
        "FeedbackId": bounce["bounce"]["feedbackId"],
    }
    # The next send to a listed address is accepted and bounces as suppressed.
    send(sandbox, "v2", [GONE], configuration_set=CONFIG_SET)
    [again] = only(sandbox.feedback(pipeline.queue_url), "Bounce")
    assert again["bounce"]["bounceSubType"] == "OnAccountSuppressionList"


@pytest.mark.parametrize(
    ("account", "configuration_set", "expected"),
    [
        (["BOUNCE"], None, {GONE: "BOUNCE"}),
        ([], ["COMPLAINT"], {ANGRY: "COMPLAINT"}),
        (["BOUNCE", "COMPLAINT"], [], {}),
    ],
    ids=["account-bounces-only", "set-overrides-account", "set-turns-it-off"],
)
def test_which_reasons_the_list_collects(
    sandbox: SandboxClient,
    account: list[str],
    configuration_set: list[str] | None,
    expected: dict[str, str],
) -> None:
    sandbox.control("POST", "/recipients", {"pattern": GONE, "outcome": "bounce"})
    sandbox.control("POST", "/recipients", {"pattern": ANGRY, "outcome": "complaint"})
    verified(sandbox, GONE, ANGRY)
    quiet_events_route(sandbox, ALL_EVENT_TYPES)
    sandbox.sesv2.put_account_suppression_attributes(SuppressedReasons=account)
    if configuration_set is not None:
        sandbox.sesv2.put_configuration_set_suppression_options(
            ConfigurationSetName=CONFIG_SET, SuppressedReasons=configuration_set
        )
    send(sandbox, "v1", [GONE, ANGRY], configuration_set=CONFIG_SET)
    assert listed(sandbox) == expected


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ([], "expected a JSON object"),
        ({"outcome": "delay"}, "pattern must be"),
        ({"pattern": SLOW, "outcome": "vanish"}, "outcome must be one of delay, bounce"),
        ({"pattern": SLOW, "delay_type": "Slow"}, "delay_type must be one of InternalFailure"),
        ({"pattern": SLOW, "then": "complaint"}, "then must be one of delivery, bounce"),
        ({"pattern": SLOW, "after": -1}, "after must be a number of seconds"),
        ({"pattern": SLOW, "after": True}, "after must be a number of seconds"),
        ({"pattern": SLOW, "status": 4}, "status and diagnostic_code must be strings"),
        ({"pattern": SLOW, "colour": "red"}, "unknown fields: colour"),
    ],
)
def test_the_rules_page_refuses_bad_rules(sandbox: SandboxClient, body: Any, text: str) -> None:
    status, message = control_error(sandbox, "POST", "/recipients", body)
    assert status == 400
    assert text in message


def test_rules_are_listed_cleared_and_reset(sandbox: SandboxClient) -> None:
    sandbox.control("POST", "/recipients", {"pattern": SLOW})
    sandbox.control("POST", "/recipients", {"pattern": GONE, "outcome": "bounce"})
    patterns = [r["pattern"] for r in sandbox.control("GET", "/recipients")["rules"]]
    assert patterns == [GONE, SLOW]  # the most recent first: it wins where both match
    assert sandbox.control("DELETE", "/recipients") == {"rules": []}
    sandbox.control("POST", "/recipients", {"pattern": SLOW})
    sandbox.control("POST", "/reset")
    assert sandbox.control("GET", "/recipients") == {"rules": []}
    verified(sandbox, SENDER)
