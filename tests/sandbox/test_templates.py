"""Templates (v1 and v2), templated and bulk sends, rendering failures
(docs/ses.md#event-publishing, #sending-at-volume)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    CONFIG_SET,
    events_route,
    kinds,
    notifications_route,
    only,
    quiet_events_route,
)
from tests.sandbox.helpers import error_of as error

FRIEND = "friend@example.net"
SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"
SUBJECT = "Order {{order.id}} for {{name}}"
TEXT = "Hello {{name}},{{#if vip}} dear VIP,{{/if}}{{#each items}} [{{this.sku}} x{{qty}}]{{/each}}"
HTML = "<p>Hello {{name}}</p>"
DATA = {"name": "Zoë", "vip": True, "order": {"id": 42}, "items": [{"sku": "A", "qty": 2}]}
RENDERED_TEXT = "Hello Zoë, dear VIP, [A x2]"
MISSING = "Attribute 'name' is not present in the rendering data."


def create_v1(sandbox: SandboxClient, name: str = "order", **parts: str) -> None:
    template = {"TemplateName": name, "SubjectPart": SUBJECT, "TextPart": TEXT, "HtmlPart": HTML}
    sandbox.ses.create_template(Template={**template, **parts})


def create_v2(sandbox: SandboxClient, name: str = "order") -> None:
    sandbox.sesv2.create_email_template(
        TemplateName=name, TemplateContent={"Subject": SUBJECT, "Text": TEXT, "Html": HTML}
    )


# ------------------------------------------------------------------ storing


def test_v1_template_lifecycle(sandbox: SandboxClient) -> None:
    create_v1(sandbox)
    got = sandbox.ses.get_template(TemplateName="order")["Template"]
    assert got == {
        "TemplateName": "order",
        "SubjectPart": SUBJECT,
        "TextPart": TEXT,
        "HtmlPart": HTML,
    }
    sandbox.ses.update_template(Template={"TemplateName": "order", "SubjectPart": "New"})
    assert sandbox.ses.get_template(TemplateName="order")["Template"]["SubjectPart"] == "New"
    listed = sandbox.ses.list_templates()["TemplatesMetadata"]
    assert [t["Name"] for t in listed] == ["order"]
    assert listed[0]["CreatedTimestamp"]
    assert error(sandbox.ses.create_template, Template={"TemplateName": "order"})[:2] == (
        "AlreadyExists",
        "Template order already exists.",
    )
    sandbox.ses.delete_template(TemplateName="order")
    sandbox.ses.delete_template(TemplateName="order")  # v1 deletes are idempotent
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (sandbox.ses.get_template, {"TemplateName": "order"}),
        (sandbox.ses.update_template, {"Template": {"TemplateName": "order"}}),
    ]
    for call, kw in calls:
        assert error(call, **kw) == ("TemplateDoesNotExist", "Template order does not exist.", 400)


def test_v2_template_lifecycle(sandbox: SandboxClient) -> None:
    create_v2(sandbox)
    got = sandbox.sesv2.get_email_template(TemplateName="order")
    assert got["TemplateContent"] == {"Subject": SUBJECT, "Text": TEXT, "Html": HTML}
    sandbox.sesv2.update_email_template(
        TemplateName="order", TemplateContent={"Subject": "New", "Text": "t"}
    )
    assert sandbox.sesv2.get_email_template(TemplateName="order")["TemplateContent"] == {
        "Subject": "New",
        "Text": "t",
    }
    names = [t["TemplateName"] for t in sandbox.sesv2.list_email_templates()["TemplatesMetadata"]]
    assert names == ["order"]
    code, _, status = error(
        sandbox.sesv2.create_email_template, TemplateName="order", TemplateContent={"Subject": "x"}
    )
    assert (code, status) == ("AlreadyExistsException", 400)
    sandbox.sesv2.delete_email_template(TemplateName="order")
    assert error(sandbox.sesv2.delete_email_template, TemplateName="order") == (
        "NotFoundException",
        "Template order does not exist.",
        404,
    )
    assert error(sandbox.sesv2.get_email_template, TemplateName="order")[0] == "NotFoundException"


def test_both_apis_share_templates_and_pages(sandbox: SandboxClient) -> None:
    for n in range(12):
        create_v1(sandbox, f"t{n:02d}")
    assert sandbox.sesv2.get_email_template(TemplateName="t05")["TemplateName"] == "t05"
    first = sandbox.ses.list_templates()  # v1 documents 10 as the default page
    assert len(first["TemplatesMetadata"]) == 10
    rest = sandbox.ses.list_templates(NextToken=first["NextToken"])
    assert [t["Name"] for t in rest["TemplatesMetadata"]] == ["t10", "t11"]
    assert len(sandbox.ses.list_templates(MaxItems=500)["TemplatesMetadata"]) == 12  # cut to 100
    assert error(sandbox.sesv2.list_email_templates, PageSize=101)[0] == "BadRequestException"


@pytest.mark.parametrize(
    ("bad", "text"),
    [
        ({"TemplateName": "bad name"}, "Invalid template name <bad name>"),
        # AWS::SES::Template's pattern, ^[a-zA-Z0-9_-]{1,64}$ (CloudFormation reference).
        ({"TemplateName": "ctl\x01"}, "Invalid template name"),
        ({"TemplateName": "é"}, "Invalid template name"),
        ({"TemplateName": "x" * 65}, "Invalid template name"),
        ({"TemplateName": "t", "TextPart": "{{#if x}}{{/each}}"}, "not valid Handlebars"),
        ({"TemplateName": "t", "HtmlPart": "x" * 600_000}, "larger than 500 KB"),
    ],
)
def test_invalid_templates_are_refused(
    sandbox: SandboxClient, bad: dict[str, str], text: str
) -> None:
    code, message, _ = error(sandbox.ses.create_template, Template=bad)
    assert code == "InvalidTemplate"
    assert text in message
    content = {
        "Subject": bad.get("SubjectPart", "s"),
        "Text": bad.get("TextPart", "t"),
        "Html": bad.get("HtmlPart", "h"),
    }
    code, message, _ = error(
        sandbox.sesv2.create_email_template,
        TemplateName=bad["TemplateName"],
        TemplateContent=content,
    )
    assert code == "BadRequestException"
    assert text in message


# ------------------------------------------------------------------ test rendering


def test_test_render_both_apis(sandbox: SandboxClient) -> None:
    create_v1(sandbox)
    for rendered in (
        sandbox.ses.test_render_template(TemplateName="order", TemplateData=json.dumps(DATA))[
            "RenderedTemplate"
        ],
        sandbox.sesv2.test_render_email_template(
            TemplateName="order", TemplateData=json.dumps(DATA)
        )["RenderedTemplate"],
    ):
        assert "Subject: Order 42 for =?utf-8?q?Zo=C3=AB?=" in rendered
        assert "<p>Hello Zo" in rendered or "PHA+SGVsbG8gWm" in rendered
        assert "multipart/alternative" in rendered


def test_test_render_refusals(sandbox: SandboxClient) -> None:
    create_v1(sandbox)
    partial = json.dumps({k: v for k, v in DATA.items() if k != "name"})
    assert error(sandbox.ses.test_render_template, TemplateName="order", TemplateData=partial)[
        :2
    ] == ("MissingRenderingAttribute", MISSING)
    assert error(
        sandbox.sesv2.test_render_email_template, TemplateName="order", TemplateData=partial
    )[:2] == ("BadRequestException", MISSING)
    code, message, _ = error(
        sandbox.ses.test_render_template, TemplateName="order", TemplateData="{not json"
    )
    assert code == "InvalidRenderingParameter"
    assert message.startswith("Template data is not valid JSON")
    assert error(
        sandbox.sesv2.test_render_email_template, TemplateName="order", TemplateData="[1]"
    )[:2] == ("BadRequestException", "Template data must be a JSON object.")
    assert error(sandbox.ses.test_render_template, TemplateName="nope", TemplateData="{}")[0] == (
        "TemplateDoesNotExist"
    )


# ---------------------------------------------------- characters XML cannot carry


def test_v1_answers_parse_whatever_a_template_holds(sandbox: SandboxClient) -> None:
    """XML 1.0 cannot carry most C0 controls, not even as references: v1 answers write U+FFFD
    for them (JSON, v2, carries them as they are); a CR stays a CR."""
    sandbox.ses.create_template(
        Template={"TemplateName": "ctl", "SubjectPart": "x\x01y", "TextPart": "a\x0bb\r\nc"}
    )
    got = sandbox.ses.get_template(TemplateName="ctl")["Template"]
    assert (got["SubjectPart"], got["TextPart"]) == ("x\ufffdy", "a\ufffdb\r\nc")
    v2 = sandbox.sesv2.get_email_template(TemplateName="ctl")["TemplateContent"]
    assert (v2["Subject"], v2["Text"]) == ("x\x01y", "a\x0bb\r\nc")


def test_v1_error_echoing_a_control_character_parses(sandbox: SandboxClient) -> None:
    assert error(sandbox.ses.get_template, TemplateName="a\x01b")[:2] == (
        "TemplateDoesNotExist",
        "Template a\ufffdb does not exist.",
    )


def test_v1_render_of_control_characters_in_the_data_parses(sandbox: SandboxClient) -> None:
    sandbox.ses.create_template(
        Template={"TemplateName": "c2", "SubjectPart": "s", "TextPart": "<{{a}}>"}
    )
    data = json.dumps({"a": "\u0001\u001f"})
    rendered = sandbox.ses.test_render_template(TemplateName="c2", TemplateData=data)
    assert "<\ufffd\ufffd>" in rendered["RenderedTemplate"]


# ------------------------------------------------------------------ sending


def send_templated(sandbox: SandboxClient, api: str, to: list[str], data: Any, **extra: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    if api == "v1":
        response = sandbox.ses.send_templated_email(
            Source=SENDER,
            Destination={"ToAddresses": to},
            Template="order",
            TemplateData=text,
            **extra,
        )
    else:
        template: dict[str, Any] = {"TemplateData": text}
        if api == "v2-arn":
            template["TemplateArn"] = "arn:aws:ses:us-east-1:123456789012:template/order"
        elif api == "v2-inline":
            template["TemplateContent"] = {"Subject": SUBJECT, "Text": TEXT, "Html": HTML}
        else:
            template["TemplateName"] = "order"
        response = sandbox.sesv2.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": to},
            Content={"Template": template},
            **({"ConfigurationSetName": extra["ConfigurationSetName"]} if extra else {}),
        )
    return str(response["MessageId"])


APIS = ["v1", "v2", "v2-arn", "v2-inline"]


@pytest.mark.parametrize("api", APIS)
def test_templated_message_reaches_the_mailbox(sandbox: SandboxClient, api: str) -> None:
    create_v1(sandbox)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress=FRIEND)
    message_id = send_templated(sandbox, api, [FRIEND], DATA)
    sandbox.drain()
    [summary] = sandbox.control("GET", f"/mailbox?recipient={FRIEND}")["messages"]
    assert summary["ses_message_id"] == message_id
    assert summary["subject"] == "Order 42 for Zoë"
    letter = sandbox.control("GET", f"/mailbox/{summary['id']}")
    assert letter["text"].strip() == RENDERED_TEXT
    assert letter["html"].strip() == "<p>Hello Zoë</p>"


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_templated_sends_give_simulator_feedback(
    sandbox: SandboxClient, route: str, api: str
) -> None:
    create_v1(sandbox)
    pipeline = sandbox.pipeline()
    extra = {}
    if route == "events":
        events_route(sandbox, pipeline)
        extra = {"ConfigurationSetName": CONFIG_SET}
    else:
        notifications_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    message_id = send_templated(sandbox, api, [BOUNCE], DATA, **extra)
    payloads = sandbox.feedback(pipeline.queue_url)
    [bounce] = only(payloads, "Bounce")
    assert bounce["mail"]["messageId"] == message_id
    assert bounce["mail"]["commonHeaders"]["subject"].startswith("Order 42 for ")
    if route == "events":
        operation = "SendTemplatedEmail" if api == "v1" else "SendEmail"
        assert bounce["mail"]["tags"]["ses:operation"] == [operation]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_missing_variable_is_accepted_then_a_rendering_failure(
    sandbox: SandboxClient, api: str
) -> None:
    create_v1(sandbox)
    sandbox.ses.verify_email_identity(EmailAddress=FRIEND)
    pipeline = quiet_events_route(sandbox)
    partial = {k: v for k, v in DATA.items() if k != "name"}
    message_id = send_templated(sandbox, api, [FRIEND], partial, ConfigurationSetName=CONFIG_SET)
    assert message_id
    payloads = sandbox.feedback(pipeline.queue_url)
    assert kinds(payloads) == ["Rendering Failure"]
    [failure] = payloads
    assert failure["failure"] == {"templateName": "order", "errorMessage": MISSING}
    assert failure["mail"]["messageId"] == message_id
    assert failure["mail"]["destination"] == [FRIEND]
    assert failure["envelope"]["Subject"] == "Amazon SES Email Event Notification"
    assert sandbox.control("GET", f"/mailbox?recipient={FRIEND}")["messages"] == []


def test_rendering_failure_has_no_identity_notification(sandbox: SandboxClient) -> None:
    create_v1(sandbox)
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    send_templated(sandbox, "v2", [SUCCESS], {})
    assert sandbox.feedback(pipeline.queue_url) == []


@pytest.mark.parametrize(
    ("api", "code"), [("v1", "InvalidParameterValue"), ("v2", "BadRequestException")]
)
def test_invalid_template_data_is_refused(sandbox: SandboxClient, api: str, code: str) -> None:
    create_v1(sandbox)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    refused = error(send_templated, sandbox=sandbox, api=api, to=[SUCCESS], data="{oops")
    assert refused[0] == code
    assert refused[1].startswith("Template data is not valid JSON")


@pytest.mark.parametrize(
    ("api", "code", "status"),
    [("v1", "TemplateDoesNotExist", 400), ("v2", "NotFoundException", 404)],
)
def test_missing_template_is_refused(
    sandbox: SandboxClient, api: str, code: str, status: int
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    assert error(send_templated, sandbox=sandbox, api=api, to=[SUCCESS], data=DATA) == (
        code,
        "Template order does not exist.",
        status,
    )


def test_inline_template_that_does_not_compile_is_refused(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    code, message, _ = error(
        sandbox.sesv2.send_email,
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [SUCCESS]},
        Content={
            "Template": {
                "TemplateContent": {"Subject": "{{#if x}}{{/each}}", "Text": "t"},
                "TemplateData": "{}",
            }
        },
    )
    assert code == "BadRequestException"
    assert "not valid Handlebars" in message
