"""Decoding: the composed samples of the facts file (``data/facts_samples.json``, taken from
``ses-facts.md``, samples S1-S9), every envelope shape, lenient fields, bad input."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from courrier.cli import main
from courrier.errors import UndecodableMessage
from courrier.feedback import decode
from courrier.feedback import events as ev

SAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "facts_samples.json").read_text(encoding="utf-8")
)


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one sample, safe to change."""
    body: dict[str, Any] = copy.deepcopy(SAMPLES[name]["body"])
    return body


def envelope(
    payload: dict[str, Any] | str, *, subject: str | None = None, message_id: str = "sns-1"
) -> str:
    outer: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
        "Message": payload if isinstance(payload, str) else json.dumps(payload) + "\n",
        "Timestamp": "2024-05-14T09:12:03.600Z",
        "SignatureVersion": "2",
        "Signature": "x",
    }
    if subject:
        outer["Subject"] = subject
    return json.dumps(outer)


@pytest.mark.parametrize(
    ("name", "cls", "subtype", "recipient"),
    [
        ("S1", ev.Bounce, "Permanent/General", "gone@example.net"),
        ("S2", ev.Bounce, "Permanent/OnAccountSuppressionList", "complainer@example.org"),
        ("S3", ev.Bounce, "Transient/MailboxFull", "full@example.com"),
        ("S4", ev.Complaint, "abuse", "reader@example.org"),
        ("S5", ev.Delivery, None, "success@simulator.amazonses.com"),
        ("S6", ev.Reject, "Bad content", "qa-inbox@example.com"),
        ("S7", ev.DeliveryDelay, "TransientCommunicationFailure", "slow@example.com"),
        ("S8", ev.Open, None, "reader@example.org"),
    ],
)
@pytest.mark.parametrize("shape", ["raw", "envelope"])
def test_facts_samples(
    name: str, cls: type[ev.Event], subtype: str | None, recipient: str, shape: str
) -> None:
    payload = sample(name)
    body = json.dumps(payload) if shape == "raw" else envelope(payload)
    decoded = decode(body)
    [event] = decoded.events
    assert type(event) is cls
    assert event.subtype == subtype
    assert event.recipient == recipient
    assert event.ses_message_id == payload["mail"]["messageId"]
    assert event.raw == payload
    assert isinstance(event.timestamp, dt.datetime)
    if shape == "envelope":
        assert decoded.envelope is not None
        assert (event.sns_message_id, event.topic_arn) == (
            "sns-1",
            "arn:aws:sns:us-east-1:123456789012:ses-feedback",
        )
    else:
        assert (decoded.envelope, event.sns_message_id) == (None, None)


def test_s9_full_envelope() -> None:
    decoded = decode(json.dumps(sample("S9")))
    [event] = decoded.events
    assert isinstance(event, ev.Bounce)
    assert decoded.envelope is not None
    assert decoded.envelope.subject == "Amazon SES Email Event Notification"
    assert event.sns_message_id == "5f3c9a1e-2b7d-5c41-9e08-7a6b5c4d3e2f"
    assert event.feedback_id == "0100018f79d3b6e0-aa11bb22-cc33-4dd4-8ee5-ff6677889900-000000"
    assert event.tags == {"ses:configuration-set": ["feedback-set"]}


def test_typed_fields() -> None:
    [bounce] = decode(json.dumps(sample("S1"))).events
    assert isinstance(bounce, ev.Bounce)
    assert (bounce.status, bounce.action, bounce.diagnostic_code, bounce.permanent) == (
        "5.1.1",
        "failed",
        "smtp; 550 5.1.1 user unknown",
        True,
    )
    [complaint] = decode(json.dumps(sample("S4"))).events
    assert isinstance(complaint, ev.Complaint)
    assert (complaint.feedback_type, complaint.user_agent) == ("abuse", "Yahoo!-Mail-Feedback/2.0")
    [delay] = decode(json.dumps(sample("S7"))).events
    assert isinstance(delay, ev.DeliveryDelay)
    assert delay.expiration_time == dt.datetime(2024, 5, 15, 13, 15, 40, 914000, tzinfo=dt.UTC)


def test_one_event_per_recipient() -> None:
    payload = sample("S1")
    payload["bounce"]["bouncedRecipients"] = [
        {"emailAddress": "a@example.net"},
        {"emailAddress": "John <B@Example.net>"},
    ]
    events = decode(json.dumps(payload)).events
    assert [e.recipient for e in events] == ["a@example.net", "b@example.net"]
    assert len({e.key for e in events}) == 2


def test_send_and_reject_cover_every_destination() -> None:
    payload = {
        "eventType": "Send",
        "send": {},
        "mail": {
            "messageId": "m",
            "timestamp": "2024-05-14T12:00:05.003Z",
            "destination": ["a@x.example", "b@x.example"],
        },
    }
    assert [e.recipient for e in decode(json.dumps(payload)).events] == [
        "a@x.example",
        "b@x.example",
    ]


@pytest.mark.parametrize(
    ("kind", "key", "body", "cls", "subtype"),
    [
        (
            "Click",
            "click",
            {
                "link": "https://x.example/a",
                "ipAddress": "192.0.2.1",
                "timestamp": "2024-05-14T14:03:19.652Z",
                "linkTags": {"a": ["b"]},
            },
            ev.Click,
            "https://x.example/a",
        ),
        (
            "Rendering Failure",
            "failure",
            {"templateName": "t", "errorMessage": "missing x"},
            ev.RenderingFailure,
            "t",
        ),
        (
            "Subscription",
            "subscription",
            {"contactList": "news", "newTopicPreferences": {"unsubscribeAll": True}},
            ev.Subscription,
            "news",
        ),
    ],
)
def test_other_event_types(
    kind: str, key: str, body: dict[str, Any], cls: type[ev.Event], subtype: str
) -> None:
    payload = {
        "eventType": kind,
        key: body,
        "mail": {
            "messageId": "m",
            "destination": ["r@x.example"],
            "timestamp": "2024-05-14T14:00:00.927Z",
        },
    }
    [event] = decode(json.dumps(payload)).events
    assert type(event) is cls
    assert event.subtype == subtype
    assert event.recipient == "r@x.example"


def test_unknown_type_keeps_the_payload() -> None:
    payload = {
        "eventType": "Teleport",
        "teleport": {"to": "mars"},
        "mail": {"messageId": "m", "destination": ["r@x.example"]},
    }
    [event] = decode(envelope(payload)).events
    assert isinstance(event, ev.Unknown)
    assert event.type_name == "Teleport"
    assert event.raw == payload
    assert event.key.startswith("Unknown:Teleport:")


def test_unknown_fields_and_lenient_timestamps() -> None:
    payload = sample("S5")
    payload["mail"]["timestamp"] = "2018-10-08T14:05:45 +0000"
    payload["delivery"]["timestamp"] = "2018-10-08T14:05:46 +0000"
    payload["delivery"]["brandNewField"] = {"nested": [1, 2]}
    payload["somethingElse"] = True
    [event] = decode(json.dumps(payload)).events
    assert event.timestamp == dt.datetime(2018, 10, 8, 14, 5, 46, tzinfo=dt.UTC)
    payload["delivery"]["timestamp"] = "not a time"
    [event] = decode(json.dumps(payload)).events
    assert event.timestamp is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "Successfully validated SNS topic for Amazon SES event publishing.",
            "event publishing setup message",
        ),
        (
            envelope("Successfully validated SNS topic for Amazon SES event publishing."),
            "event publishing setup message",
        ),
        (
            envelope({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}),
            "identity notification setup message",
        ),
        (
            json.dumps(
                {
                    "Type": "SubscriptionConfirmation",
                    "MessageId": "x",
                    "Token": "t",
                    "TopicArn": "arn",
                    "Message": "You have chosen to subscribe",
                    "SubscribeURL": "https://sns.example/",
                }
            ),
            "SNS SubscriptionConfirmation",
        ),
        (
            json.dumps({"Type": "UnsubscribeConfirmation", "MessageId": "x", "Message": "bye"}),
            "SNS UnsubscribeConfirmation",
        ),
    ],
)
def test_recognised_messages_without_events(body: str, reason: str) -> None:
    decoded = decode(body)
    assert decoded.events == ()
    assert decoded.ignored == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("hello", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"foo": 1}', "no eventType or notificationType"),
        (envelope("not json at all"), "not an SES payload"),
        (json.dumps({"Type": "Notification", "Message": 5}), "without a Message string"),
        (json.dumps({"Type": "Weird", "Message": "x"}), "unknown SNS message type"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_input_is_a_clear_typed_error(body: str | bytes, reason: str) -> None:
    with pytest.raises(UndecodableMessage, match=reason):
        decode(body)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "Type",
                            "Message",
                            "eventType",
                            "notificationType",
                            "mail",
                            "bounce",
                            "bouncedRecipients",
                            "timestamp",
                            "destination",
                            "emailAddress",
                            "x",
                        ]
                    ),
                    children,
                    max_size=5,
                )
            ),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_decoding_never_crashes(body: str | bytes) -> None:
    with contextlib.suppress(UndecodableMessage):
        decode(body)


def test_cli_prints_one_json_line_per_event() -> None:
    payload = sample("S1")
    payload["bounce"]["bouncedRecipients"].append({"emailAddress": "two@example.net"})
    result = CliRunner().invoke(main, ["decode", "-"], input=envelope(payload))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["recipient"] for line in lines] == ["gone@example.net", "two@example.net"]
    assert lines[0] == {
        "kind": "Bounce",
        "subtype": "Permanent/General",
        "recipient": "gone@example.net",
        "ses_message_id": payload["mail"]["messageId"],
        "feedback_id": payload["bounce"]["feedbackId"],
        "timestamp": "2024-05-14T09:12:03.511000+00:00",
        "sns_message_id": "sns-1",
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
        "action": "suppress",
    }


@pytest.mark.parametrize(
    ("name", "action"),
    [("S3", "count_soft_bounce"), ("S4", "suppress"), ("S5", "record"), ("S8", "record")],
)
def test_cli_actions(name: str, action: str, tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(sample(name)))
    result = CliRunner().invoke(main, ["decode", str(path)])
    assert json.loads(result.output)["action"] == action


def test_cli_ignored_and_bad_input() -> None:
    ignored = CliRunner().invoke(
        main, ["decode"], input="Successfully validated SNS topic for Amazon SES event publishing."
    )
    assert json.loads(ignored.output)["action"] == "ignore"
    bad = CliRunner().invoke(main, ["decode"], input="{oops")
    assert bad.exit_code == 2
    assert "cannot decode: not JSON" in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize("kind", ["Open", "Click", "Subscription"])
def test_events_of_a_many_recipient_send_name_no_recipient(kind: str) -> None:
    """SES does not say which recipient opened, clicked or unsubscribed
    (docs/ses.md#event-publishing)."""
    key = {"Open": "open", "Click": "click", "Subscription": "subscription"}[kind]
    payload = {
        "eventType": kind,
        key: {"timestamp": "2024-05-14T14:03:19.652Z", "contactList": "news"},
        "mail": {"messageId": "m", "destination": ["a@x.example", "b@x.example"]},
    }
    [event] = decode(json.dumps(payload)).events
    assert event.recipient is None


def test_a_subscription_event_says_which_topics_changed() -> None:
    # The shape of docs/ses.md#event-publishing: one topic opted out, the contact still subscribed
    # to others.
    payload = {
        "eventType": "Subscription",
        "mail": {"messageId": "m", "destination": ["r@x.example"]},
        "subscription": {
            "contactList": "news",
            "timestamp": "2024-05-14T14:00:00.927Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "weekly", "subscriptionStatus": "OptOut"},
                    {"topicName": "alerts", "subscriptionStatus": "OptIn"},
                    {"topicName": 7, "subscriptionStatus": "OptIn"},
                ],
            },
            "oldTopicPreferences": {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "weekly", "subscriptionStatus": "OptIn"},
                ],
            },
        },
    }
    [event] = decode(json.dumps(payload)).events
    assert isinstance(event, ev.Subscription)
    assert event.unsubscribe_all is False
    assert event.topic_preferences == {"weekly": "OptOut", "alerts": "OptIn"}
    assert event.preference_source == "UnsubscribeHeader"
