"""SES v2 refuses what its model's min, max and pattern traits refuse, in AWS's words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import error_of

RECIPIENT = "success@simulator.amazonses.com"
NAME_PATTERN = "^[!-9;-@A-~]+$"


def send_with_headers(sandbox: SandboxClient, headers: list[dict[str, str]]) -> Any:
    return sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={
            "Simple": {
                "Subject": {"Data": "s"},
                "Body": {"Text": {"Data": "b"}},
                "Headers": headers,
            }
        },
    )


def test_a_header_name_with_a_line_break_is_refused(sandbox: SandboxClient) -> None:
    """A name that would add a header of its own (here a Bcc:) never reaches the message."""
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    name = "Bcc: evil@example.org\r\nX-Injected"
    code, message, status = error_of(send_with_headers, sandbox, [{"Name": name, "Value": "v"}])
    assert (code, status) == ("BadRequestException", 400)
    assert message == (
        f"1 validation error detected: Value '{name}' at 'content.simple.headers.1.member.name' "
        f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
        f"{NAME_PATTERN}"
    )
    assert sandbox.controls.events() == []


def test_a_header_value_with_a_line_break_is_refused(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    value = "v\r\nBcc: evil@example.org"
    code, message, _ = error_of(send_with_headers, sandbox, [{"Name": "X-A", "Value": value}])
    assert code == "BadRequestException"
    assert message.endswith(
        "at 'content.simple.headers.1.member.value' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [ -~]*"
    )


def test_every_broken_constraint_is_reported_at_once(sandbox: SandboxClient) -> None:
    headers = [{"Name": "X-Long", "Value": "v" * 996}, {"Name": "N" * 127, "Value": "v"}]
    code, message, _ = error_of(send_with_headers, sandbox, headers)
    assert code == "BadRequestException"
    assert message.startswith("2 validation errors detected: ")
    assert (
        "at 'content.simple.headers.1.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 995; "
    ) in message
    assert message.endswith(
        "at 'content.simple.headers.2.member.name' failed to satisfy constraint: "
        "Member must have length less than or equal to 126"
    )


@pytest.mark.parametrize("count", [15, 16])
def test_at_most_15_headers_are_accepted(sandbox: SandboxClient, count: int) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    headers = [{"Name": f"X-Header-{i}", "Value": "v"} for i in range(count)]
    if count == 15:
        assert send_with_headers(sandbox, headers)["MessageId"]
        return
    code, message, _ = error_of(send_with_headers, sandbox, headers)
    assert code == "BadRequestException"
    assert message.endswith(
        "at 'content.simple.headers' failed to satisfy constraint: "
        "Member must have length less than or equal to 15"
    )


def test_bulk_replacement_headers_are_checked_too(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    code, message, _ = error_of(
        sandbox.sesv2.send_bulk_email,
        FromEmailAddress=SENDER,
        DefaultContent={"Template": {"TemplateName": "t", "TemplateData": "{}"}},
        BulkEmailEntries=[
            {
                "Destination": {"ToAddresses": [RECIPIENT]},
                "ReplacementHeaders": [{"Name": "Bad Name", "Value": "v"}],
            }
        ],
    )
    assert code == "BadRequestException"
    assert "at 'bulkEmailEntries.1.member.replacementHeaders.1.member.name'" in message


def test_a_number_outside_its_range_is_refused(sandbox: SandboxClient) -> None:
    code, message, _ = error_of(
        sandbox.sesv2.create_configuration_set,
        ConfigurationSetName="short",
        DeliveryOptions={"MaxDeliverySeconds": 50401},
    )
    assert code == "BadRequestException"
    assert message == (
        "1 validation error detected: Value '50401' at 'deliveryOptions.maxDeliverySeconds' "
        "failed to satisfy constraint: Member must have value less than or equal to 50400"
    )
