"""Bulk sends: v1 SendBulkTemplatedEmail and v2 SendBulkEmail, one status per entry
(docs/ses.md#sending-at-volume)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import CONFIG_SET, only, quiet_events_route

FRIEND = "friend@example.net"
STRANGER = "stranger@example.org"
SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"


def setup(sandbox: SandboxClient) -> None:
    sandbox.ses.create_template(
        Template={
            "TemplateName": "hello",
            "SubjectPart": "Hi {{name}}",
            "TextPart": "Hello {{name}} from {{team}}",
        }
    )
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress=FRIEND)


def bulk(
    sandbox: SandboxClient, api: str, entries: list[tuple[str, Any, dict[str, str]]], **extra: Any
) -> list[dict[str, Any]]:
    """Entries: (recipient, replacement data or None, replacement tags)."""
    default = json.dumps({"team": "courrier", "name": "friend"})
    if api == "v1":
        response = sandbox.ses.send_bulk_templated_email(
            Source=SENDER,
            Template="hello",
            DefaultTemplateData=default,
            DefaultTags=[{"Name": "campaign", "Value": "spring"}],
            Destinations=[
                {
                    "Destination": {"ToAddresses": [to]},
                    **({"ReplacementTemplateData": data} if data is not None else {}),
                    "ReplacementTags": [{"Name": k, "Value": v} for k, v in tags.items()],
                }
                for to, data, tags in entries
            ],
            **extra,
        )
        return list(response["Status"])
    response = sandbox.sesv2.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={"Template": {"TemplateName": "hello", "TemplateData": default}},
        DefaultEmailTags=[{"Name": "campaign", "Value": "spring"}],
        BulkEmailEntries=[
            {
                "Destination": {"ToAddresses": [to]},
                "ReplacementTags": [{"Name": k, "Value": v} for k, v in tags.items()],
                **(
                    {
                        "ReplacementEmailContent": {
                            "ReplacementTemplate": {"ReplacementTemplateData": data}
                        }
                    }
                    if data is not None
                    else {}
                ),
            }
            for to, data, tags in entries
        ],
        **extra,
    )
    return list(response["BulkEmailEntryResults"])


STATUS = {
    "v1": {
        "ok": "Success",
        "rejected": "MessageRejected",
        "invalid": "InvalidParameterValue",
        "throttled": "AccountThrottled",
    },
    "v2": {
        "ok": "SUCCESS",
        "rejected": "MESSAGE_REJECTED",
        "invalid": "INVALID_PARAMETER",
        "throttled": "ACCOUNT_THROTTLED",
    },
}


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_each_entry_has_its_own_status_data_and_tags(sandbox: SandboxClient, api: str) -> None:
    setup(sandbox)
    pipeline = quiet_events_route(sandbox)
    results = bulk(
        sandbox,
        api,
        [
            (FRIEND, json.dumps({"name": "Ann"}), {"row": "1"}),
            (BOUNCE, None, {"row": "2"}),
            (STRANGER, None, {}),  # not verified, and the account is in the SES sandbox
            (FRIEND, "{broken", {}),
            (FRIEND, json.dumps({"name": "", "team": "x"}), {"campaign": "autumn"}),
        ],
        ConfigurationSetName=CONFIG_SET,
    )
    status = STATUS[api]
    assert [r["Status"] for r in results] == [
        status["ok"],
        status["ok"],
        status["rejected"],
        status["invalid"],
        status["ok"],
    ]
    assert "MessageId" not in results[2]
    assert results[2]["Error"] == (
        "Email address is not verified. The following identities failed the check in region "
        f"US-EAST-1: {STRANGER}"
    )
    assert results[3]["Error"].startswith("Template data is not valid JSON")
    ids = [r["MessageId"] for r in (results[0], results[1], results[4])]
    assert len(set(ids)) == 3

    sandbox.drain()
    letters = sandbox.control("GET", f"/mailbox?recipient={FRIEND}")["messages"]
    assert sorted(letter["subject"] for letter in letters) == ["Hi ", "Hi Ann"]
    ann = next(letter for letter in letters if letter["subject"] == "Hi Ann")
    assert ann["ses_message_id"] == ids[0]
    assert sandbox.control("GET", f"/mailbox/{ann['id']}")["text"].strip() == (
        "Hello Ann from courrier"
    )

    payloads = sandbox.feedback(pipeline.queue_url)
    [bounce] = only(payloads, "Bounce")
    assert bounce["mail"]["messageId"] == ids[1]
    assert bounce["mail"]["destination"] == [BOUNCE]
    sends = {p["mail"]["messageId"]: p["mail"]["tags"] for p in only(payloads, "Send")}
    assert sends[ids[0]]["row"] == ["1"]
    assert sends[ids[0]]["campaign"] == ["spring"]
    assert sends[ids[2]]["campaign"] == ["autumn"]  # the entry's tag over the default
    operation = "SendBulkTemplatedEmail" if api == "v1" else "SendBulkEmail"
    assert sends[ids[1]]["ses:operation"] == [operation]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_missing_variable_in_one_entry(sandbox: SandboxClient, api: str) -> None:
    sandbox.ses.create_template(
        Template={"TemplateName": "hello", "SubjectPart": "Hi {{first}}", "TextPart": "x"}
    )
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    pipeline = quiet_events_route(sandbox)
    results = bulk(
        sandbox,
        api,
        [(SUCCESS, json.dumps({"first": "Ann"}), {}), (SUCCESS, None, {})],
        ConfigurationSetName=CONFIG_SET,
    )
    assert [r["Status"] for r in results] == [STATUS[api]["ok"]] * 2
    payloads = sandbox.feedback(pipeline.queue_url)
    [failure] = only(payloads, "Rendering Failure")
    assert failure["mail"]["messageId"] == results[1]["MessageId"]
    assert failure["failure"] == {
        "templateName": "hello",
        "errorMessage": "Attribute 'first' is not present in the rendering data.",
    }
    assert [p["mail"]["messageId"] for p in only(payloads, "Delivery")] == [results[0]["MessageId"]]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_each_destination_counts_toward_rate_and_quota(sandbox: SandboxClient, api: str) -> None:
    setup(sandbox)
    sandbox.set_account(max_send_rate=1.0, max_send_burst=3.0, max_24_hour_send=100.0)
    entries: list[tuple[str, Any, dict[str, str]]] = [(FRIEND, None, {})] * 2
    results = bulk(sandbox, api, entries + [(SUCCESS, None, {})] * 3)
    assert [r["Status"] for r in results] == [STATUS[api]["ok"]] * 3 + [
        STATUS[api]["throttled"]
    ] * 2
    assert results[3]["Error"] == "Maximum sending rate exceeded."
    # Simulator mail counts toward the rate, not the quota (docs/ses.md#mailbox-simulator).
    assert sandbox.ses.get_send_quota()["SentLast24Hours"] == 2.0


@pytest.mark.parametrize(("api", "code"), [("v1", "MessageRejected"), ("v2", "MessageRejected")])
def test_whole_call_refusals(sandbox: SandboxClient, api: str, code: str) -> None:
    setup(sandbox)
    with pytest.raises(ClientError) as caught:
        bulk(sandbox, api, [(SUCCESS, None, {})] * 51)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["Error"]["Message"] == "Destination count exceeds 50."
    sandbox.ses.delete_identity(Identity=SENDER)
    with pytest.raises(ClientError) as caught:
        bulk(sandbox, api, [(SUCCESS, None, {})])
    assert caught.value.response["Error"]["Message"].startswith("Email address is not verified.")


@pytest.mark.parametrize(
    ("api", "code"), [("v1", "TemplateDoesNotExist"), ("v2", "NotFoundException")]
)
def test_bulk_with_a_missing_template(sandbox: SandboxClient, api: str, code: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    with pytest.raises(ClientError) as caught:
        bulk(sandbox, api, [(SUCCESS, None, {})])
    assert caught.value.response["Error"]["Code"] == code


@pytest.mark.parametrize(
    ("api", "code"),
    [("v1", "ConfigurationSetDoesNotExist"), ("v2", "NotFoundException")],
)
def test_bulk_with_a_missing_configuration_set(sandbox: SandboxClient, api: str, code: str) -> None:
    setup(sandbox)
    with pytest.raises(ClientError) as caught:
        bulk(sandbox, api, [(SUCCESS, None, {})], ConfigurationSetName="nope")
    assert caught.value.response["Error"]["Code"] == code
