"""Malformed input of every kind gets an AWS-shaped 4xx, never a 500 from the sandbox itself."""

from __future__ import annotations

import json
import socket
import string
import urllib.parse
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tests.conftest import REGION, SandboxClient, boto3_client
from tests.sandbox import strategies


def signed(service: str) -> dict[str, str]:
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20260101/{REGION}/{service}/"
        "aws4_request, SignedHeaders=host, Signature=x"
    }


def call(
    sandbox: SandboxClient,
    method: str,
    path: str,
    *,
    data: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, dict[str, str], bytes]:
    client = Client(sandbox.server.app)
    response = client.open(
        path, method=method, data=data, headers=headers or {}, query_string=query
    )
    return response.status_code, dict(response.headers), response.get_data()


# ------------------------------------------------------------------ the reported cases


def test_deeply_nested_json_to_ses_v2(sandbox: SandboxClient) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    status, headers, answer = call(
        sandbox, "POST", "/v2/email/outbound-emails", data=body, headers=signed("ses")
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    nested = b'{"Content": ' + b'{"Simple": ' * 5000 + b"1" + b"}" * 5001
    assert call(sandbox, "POST", "/v2/email/outbound-emails", data=nested)[0] == 400
    assert json.loads(answer)["message"].startswith("Invalid request")


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"max_send_rate": "abc"}, "max_send_rate must be a number"),
        ({"max_send_rate": True}, "max_send_rate must be a number"),
        ({"max_send_rate": 0}, "max_send_rate must be more than 0"),
        ({"max_send_rate": -3.5}, "max_send_rate must be more than 0"),
        ({"max_24_hour_send": -2}, "max_24_hour_send must be -1 (unlimited) or at least 0"),
        ({"max_24_hour_send": "100"}, "max_24_hour_send must be a number"),
        ({"production": "false"}, "production must be true or false"),
        ({"production": 1}, "production must be true or false"),
        ({"sending_enabled": "no"}, "sending_enabled must be true or false"),
        ({"colour": "blue"}, "unknown fields: colour"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_account_page_refuses_wrong_types(sandbox: SandboxClient, body: Any, text: str) -> None:
    status, _, answer = call(sandbox, "POST", "/_courrier/account", data=json.dumps(body).encode())
    assert (status, json.loads(answer)["message"]) == (400, text)
    account = sandbox.sesv2.get_account()
    assert account["ProductionAccessEnabled"] is False
    assert account["SendQuota"]["MaxSendRate"] == 1000.0


def test_account_page_accepts_real_values(sandbox: SandboxClient) -> None:
    sandbox.set_account(max_send_rate=3, max_24_hour_send=0, production=True)
    account = sandbox.sesv2.get_account()
    assert account["ProductionAccessEnabled"] is True
    assert account["SendQuota"]["MaxSendRate"] == 3.0
    assert account["SendQuota"]["Max24HourSend"] == 0.0
    sandbox.set_account(max_24_hour_send=-1)
    assert sandbox.ses.get_send_quota()["Max24HourSend"] == -1.0


@pytest.mark.parametrize("timeout", ["x", "nan", "-1", "1e9"])
def test_drain_page_refuses_a_bad_timeout(sandbox: SandboxClient, timeout: str) -> None:
    status, _, answer = call(sandbox, "POST", "/_courrier/drain", query=f"timeout={timeout}")
    assert status == 400
    assert "timeout" in json.loads(answer)["message"]
    assert call(sandbox, "POST", "/_courrier/drain", query="timeout=1")[0] == 200


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("s3", "list_buckets", {}),
        ("s3", "create_bucket", {"Bucket": "not-served"}),
        ("dynamodb", "list_tables", {}),
        ("lambda", "list_functions", {}),
    ],
)
def test_services_the_sandbox_does_not_serve(
    sandbox: SandboxClient, service: str, operation: str, params: dict[str, Any]
) -> None:
    client = boto3_client(
        service,
        endpoint_url=sandbox.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert f"not '{service}'" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sts_is_still_served(sandbox: SandboxClient) -> None:
    sts = boto3.client("sts", endpoint_url=sandbox.url, region_name=REGION)
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_unsigned_requests_outside_ses_are_refused(sandbox: SandboxClient) -> None:
    status, _, answer = call(sandbox, "POST", "/", data=b"Action=ListTopics")
    assert status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in answer


@pytest.mark.parametrize(
    "body",
    [
        b"Action=Publish&TopicArn=arn:aws:sns:us-east-1:123456789012:x&Message=%ZZ",
        b"Action=CreateTopic&Name=t&Attributes.entry.1.key=Policy&Attributes.entry.1.value=%7B",
        b"Action=Subscribe&TopicArn=&Protocol=sqs",
        b"Action=SetSubscriptionAttributes&SubscriptionArn=nope&AttributeName=RawMessageDelivery",
        b"Action=Publish&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=",
    ],
)
def test_malformed_sns_requests(sandbox: SandboxClient, body: bytes) -> None:
    status, _, answer = call(
        sandbox,
        "POST",
        "/",
        data=body,
        headers={**signed("sns"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= status < 500
    assert b"<Code>" in answer


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("AmazonSQS.CreateQueue", b"{not json"),
        ("AmazonSQS.CreateQueue", b'{"QueueName": ["a"]}'),
        ("AmazonSQS.SendMessage", b'{"QueueUrl": 5, "MessageBody": {}}'),
        ("AmazonSQS.ReceiveMessage", b'{"QueueUrl": "x", "MaxNumberOfMessages": "ten"}'),
        ("AmazonSQS.NoSuchAction", b"{}"),
        ("AmazonSQS.CreateQueue", b"[" * 50_000),
    ],
)
def test_malformed_sqs_requests(sandbox: SandboxClient, target: str, body: bytes) -> None:
    status, headers, answer = call(
        sandbox,
        "POST",
        "/",
        data=body,
        headers={
            **signed("sqs"),
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert 400 <= status < 500
    assert "__type" in json.loads(answer)
    assert headers.get("x-amzn-query-error") or b"__type" in answer


@pytest.mark.parametrize(
    ("service", "content_type", "target", "body"),
    [
        ("sqs", "application/x-amz-json-1.0", "AmazonSQS.NoSuchAction", b"{}"),
        ("sqs", "application/x-amz-json-1.0", "AmazonSNS.ListQueues", b"{}"),
        ("sqs", "application/x-amz-json-1.0", "ListQueues", b"{}"),
        ("sqs", "application/x-www-form-urlencoded", None, b"Action=NoSuchAction"),
        ("sns", "application/x-www-form-urlencoded", None, b"Action=NoSuchAction"),
        ("sns", "application/x-www-form-urlencoded", None, b"TopicArn=x"),
        ("sts", "application/x-www-form-urlencoded", None, b"Action=ListTopics"),
    ],
)
def test_unknown_actions_are_invalid_action(
    sandbox: SandboxClient, service: str, content_type: str, target: str | None, body: bytes
) -> None:
    """AWS answers InvalidAction (400) in the request's own protocol, whatever moto does."""
    headers = {**signed(service), "Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    status, answer_headers, answer = call(sandbox, "POST", "/", data=body, headers=headers)
    assert status == 400
    if target is None:
        assert b"<Code>InvalidAction</Code>" in answer
    else:
        assert json.loads(answer)["__type"] == "InvalidAction"
        assert answer_headers["x-amzn-query-error"] == "InvalidAction;Sender"


def test_known_query_action_in_the_url_still_reaches_moto(sandbox: SandboxClient) -> None:
    status, _, answer = call(sandbox, "GET", "/", query="Action=ListTopics", headers=signed("sns"))
    assert status == 200
    assert b"ListTopicsResponse" in answer


def raw_socket_request(sandbox: SandboxClient, request: bytes) -> bytes:
    host, port = urllib.parse.urlsplit(sandbox.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("service", ["sqs", "sns", "ses"])
@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\ngarbage\r\n0\r\n\r\n", b"-5\r\nabc\r\n", b"5\r\nab", b"4\r\nAction\r\n0\r\n\r\n"],
)
def test_chunked_garbage_over_http(sandbox: SandboxClient, service: str, chunks: bytes) -> None:
    auth = signed(service)["Authorization"]
    request = (
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Authorization: {auth}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + chunks
    )
    answer = raw_socket_request(sandbox, request)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]


def test_moto_api_reset_is_routed_even_when_malformed(sandbox: SandboxClient) -> None:
    assert call(sandbox, "GET", "/moto-api/reset")[0] < 500


# ------------------------------------------------------------------ property test

ACTIONS = {
    "ses": [
        "SendEmail",
        "SendRawEmail",
        "ListIdentities",
        "VerifyEmailIdentity",
        "GetSendQuota",
        "GetSendStatistics",
        "SetIdentityMailFromDomain",
        "CreateConfigurationSetTrackingOptions",
        "DescribeConfigurationSet",
    ],
    "sns": ["Publish", "CreateTopic", "Subscribe", "SetTopicAttributes", "ListTopics"],
    "sqs": ["CreateQueue", "SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueUrl"],
    "sts": ["GetCallerIdentity", "AssumeRole"],
}
V2_PATHS = [
    "/v2/email/outbound-emails",
    "/v2/email/identities",
    "/v2/email/identities/a%40example.com",
    "/v2/email/configuration-sets",
    "/v2/email/suppression/addresses",
    "/v2/email/account/suppression",
    "/v2/email/templates",
    "/v2/email/outbound-bulk-emails",
    "/v2/email/contact-lists",
    "/v2/email/contact-lists/news/contacts",
    "/v2/email/contact-lists/news/contacts/list",
    "/v2/email/tags",
    "/v2/email/configuration-sets/set/delivery-options",
    "/v2/email/configuration-sets/set/tracking-options",
    "/v2/email/identities/example.com/mail-from",
]
CONTROL_PATHS = [
    "/_courrier/account",
    "/_courrier/drain",
    "/_courrier/mailbox",
    "/_courrier/x",
    "/_courrier/recipients",
    "/_courrier/mailbox/1/click",
    "/_courrier/unsubscribe/0100-x-000000/a%40example.com",
    "/_courrier/identities/example.com/mail-from/verify",
    "/I0/0100-x-000000/0",
    "/L0/https:%2F%2Fx.example/1/0100-x-000000/0",
]

json_values = strategies.json_values()
text = strategies.text
member_names = st.sampled_from(
    [
        "Content",
        "Simple",
        "Raw",
        "Data",
        "Destination",
        "ToAddresses",
        "FromEmailAddress",
        "QueueUrl",
        "QueueName",
        "MessageBody",
        "Attributes",
        "TemplateName",
        "TemplateData",
        "BulkEmailEntries",
        "EmailIdentity",
        "PageSize",
        "NextToken",
        "max_send_rate",
        "production",
        "ContactListName",
        "Topics",
        "TopicPreferences",
        "ListManagementOptions",
        "ConfigurationOverrides",
        "Tags",
        "MailFromDomain",
        "pattern",
        "outcome",
        "topics",
        "link",
    ]
)
shaped_json = st.dictionaries(member_names, json_values, max_size=5)
deep = st.integers(min_value=500, max_value=20_000).map(lambda n: b"[" * n + b"1" + b"]" * n)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped_json.map(lambda v: json.dumps(v).encode()),
    deep,
)
query_keys = st.text(alphabet=string.ascii_letters + ".1", min_size=1, max_size=24)
query_values = st.one_of(text, st.sampled_from(["%", "%ZZ", "&&", "=", "true", "-1", "1e999"]))


@st.composite
def query_bodies(draw: st.DrawFn, service: str) -> bytes:
    pairs = [("Action", draw(st.sampled_from(ACTIONS[service])))]
    pairs += draw(st.lists(st.tuples(query_keys, query_values), max_size=6))
    encoded = urllib.parse.urlencode(pairs).encode()
    return draw(st.sampled_from([encoded, encoded + b"&%", encoded.replace(b"=", b"", 1)]))


FUZZ = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_not_5xx(sandbox: SandboxClient, method: str, path: str, **kwargs: Any) -> None:
    status, _, answer = call(sandbox, method, path, **kwargs)
    assert status < 500, (method, path, kwargs, answer[:300])


@FUZZ
@given(
    service=st.sampled_from(sorted(ACTIONS)),
    data=st.data(),
    method=st.sampled_from(["POST", "GET"]),
)
def test_fuzz_query_protocols(
    sandbox: SandboxClient, service: str, data: st.DataObject, method: str
) -> None:
    body = data.draw(query_bodies(service))
    headers = {**signed(service), "Content-Type": "application/x-www-form-urlencoded"}
    if method == "GET":
        assert_not_5xx(sandbox, method, "/", headers=headers, query=body.decode())
    else:
        assert_not_5xx(sandbox, method, "/", headers=headers, data=body)


@FUZZ
@given(
    path=st.sampled_from(V2_PATHS),
    method=st.sampled_from(["POST", "PUT", "GET", "DELETE"]),
    body=bodies,
    query=st.lists(st.tuples(st.sampled_from(["PageSize", "NextToken", "Reason"]), text)),
)
def test_fuzz_ses_v2(
    sandbox: SandboxClient, path: str, method: str, body: bytes, query: list[tuple[str, str]]
) -> None:
    assert_not_5xx(
        sandbox,
        method,
        path,
        data=body,
        headers=signed("ses"),
        query=urllib.parse.urlencode(query),
    )


@FUZZ
@given(target=st.sampled_from(ACTIONS["sqs"]), body=bodies)
def test_fuzz_sqs_json(sandbox: SandboxClient, target: str, body: bytes) -> None:
    headers = {
        **signed("sqs"),
        "X-Amz-Target": f"AmazonSQS.{target}",
        "Content-Type": "application/x-amz-json-1.0",
    }
    assert_not_5xx(sandbox, "POST", "/", data=body, headers=headers)


@FUZZ
@given(
    path=st.sampled_from(CONTROL_PATHS),
    method=st.sampled_from(["POST", "GET", "DELETE"]),
    body=bodies,
    timeout=text,
)
def test_fuzz_control_pages(
    sandbox: SandboxClient, path: str, method: str, body: bytes, timeout: str
) -> None:
    assert_not_5xx(
        sandbox, method, path, data=body, query=urllib.parse.urlencode({"timeout": timeout})
    )
