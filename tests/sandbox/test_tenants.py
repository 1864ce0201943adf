"""SES tenants in the sandbox: the tenant APIs, TenantName on sends, and what the feedback of a
tenant's sends carries (docs/ses.md#tenants)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from courrier_sandbox.client import SandboxControl, SandboxControlError
from courrier_sandbox.pytest_plugin import SesSandbox
from courrier_sandbox.ses import tenant_reputation
from courrier_sandbox.ses.state import RegionState
from courrier_sandbox.ses.tenants import Tenant
from tests.conftest import REGION, SENDER, SandboxClient
from tests.sandbox.helpers import CONFIG_SET, error_of, only, quiet_events_route

ACCOUNT_ARN = f"arn:aws:ses:{REGION}:123456789012"
SIMPLE = {"Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Body"}}}}
SUCCESS = "success@simulator.amazonses.com"


def arn(sandbox: SandboxClient, kind: str, name: str) -> str:
    """The ARN of one of the caller's resources, in the account the sandbox gave it."""
    account = sandbox.client("sts").get_caller_identity()["Account"]
    return f"arn:aws:ses:{REGION}:{account}:{kind}/{name}"


def tenant_ready(sandbox: SandboxClient, name: str, *, template: str | None = None) -> None:
    """``name`` created, with the sender and ``CONFIG_SET`` (and ``template``) associated."""
    sandbox.sesv2.create_tenant(TenantName=name)
    resources = [arn(sandbox, "identity", SENDER), arn(sandbox, "configuration-set", CONFIG_SET)]
    if template:
        resources.append(arn(sandbox, "template", template))
    for resource in resources:
        sandbox.sesv2.create_tenant_resource_association(TenantName=name, ResourceArn=resource)


def send(sandbox: SandboxClient, tenant: str | None, **extra: Any) -> str:
    if tenant is not None:
        extra["TenantName"] = tenant
    extra.setdefault("ConfigurationSetName", CONFIG_SET)
    extra.setdefault("Destination", {"ToAddresses": [SUCCESS]})
    extra.setdefault("Content", SIMPLE)
    response = sandbox.sesv2.send_email(FromEmailAddress=SENDER, **extra)
    return str(response["MessageId"])


# ------------------------------------------------------------------------ tenants


def test_a_tenant_is_created_read_listed_and_deleted(sandbox: SandboxClient) -> None:
    created = sandbox.sesv2.create_tenant(
        TenantName="acme", Tags=[{"Key": "plan", "Value": "gold"}]
    )
    account = sandbox.client("sts").get_caller_identity()["Account"]
    assert created["TenantName"] == "acme"
    assert created["TenantId"].startswith("tn-")
    assert created["TenantArn"] == (
        f"arn:aws:ses:{REGION}:{account}:tenant/acme/{created['TenantId']}"
    )
    assert created["SendingStatus"] == "ENABLED"
    assert created["Tags"] == [{"Key": "plan", "Value": "gold"}]
    assert "SuppressionAttributes" not in created

    found = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]
    assert {k: found[k] for k in ("TenantName", "TenantId", "TenantArn", "SendingStatus")} == {
        k: created[k] for k in ("TenantName", "TenantId", "TenantArn", "SendingStatus")
    }
    assert found["CreatedTimestamp"] == created["CreatedTimestamp"]

    sandbox.sesv2.create_tenant(TenantName="globex")
    listed = sandbox.sesv2.list_tenants()["Tenants"]
    assert [t["TenantName"] for t in listed] == ["acme", "globex"]
    assert "Tags" not in listed[0]  # TenantInfo carries no tags
    filtered = sandbox.sesv2.list_tenants(Filter={"TENANT_NAME_CONTAINS": "glo"})["Tenants"]
    assert [t["TenantName"] for t in filtered] == ["globex"]

    sandbox.sesv2.delete_tenant(TenantName="acme")
    assert [t["TenantName"] for t in sandbox.sesv2.list_tenants()["Tenants"]] == ["globex"]
    assert error_of(sandbox.sesv2.get_tenant, TenantName="acme")[0] == "NotFoundException"


def test_tenant_errors(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_tenant(TenantName="acme")
    code, message, status = error_of(sandbox.sesv2.create_tenant, TenantName="acme")
    assert (code, status) == ("AlreadyExistsException", 400)
    assert "acme" in message
    assert error_of(sandbox.sesv2.create_tenant, TenantName="no spaces")[0] == (
        "BadRequestException"
    )
    assert error_of(sandbox.sesv2.create_tenant, TenantName="x" * 65)[0] == "BadRequestException"
    for call in (sandbox.sesv2.get_tenant, sandbox.sesv2.delete_tenant):
        assert error_of(call, TenantName="nobody")[:1] == ("NotFoundException",)
    assert error_of(sandbox.sesv2.list_tenants, Filter={"NAME": "a"})[0] == "BadRequestException"
    # Scope and reasons come together or not at all.
    refused = error_of(
        sandbox.sesv2.create_tenant,
        TenantName="half",
        SuppressionAttributes={"SuppressionScope": "TENANT"},
    )
    assert refused[0] == "BadRequestException"


def test_tenants_are_listed_page_by_page(sandbox: SandboxClient) -> None:
    names = [f"tenant-{i:02d}" for i in range(7)]
    for name in names:
        sandbox.sesv2.create_tenant(TenantName=name)
    paginator = sandbox.sesv2.get_paginator("list_tenants")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Tenants"]) for p in pages] == [3, 3, 1]
    assert [t["TenantName"] for p in pages for t in p["Tenants"]] == names


def test_suppression_attributes_are_kept_and_cleared(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_tenant(
        TenantName="acme",
        SuppressionAttributes={"SuppressionScope": "TENANT", "SuppressedReasons": ["BOUNCE"]},
    )
    assert sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["SuppressionAttributes"] == {
        "SuppressionScope": "TENANT",
        "SuppressedReasons": ["BOUNCE"],
    }
    sandbox.sesv2.put_tenant_suppression_attributes(
        TenantName="acme", SuppressionScope="ACCOUNT", SuppressedReasons=["BOUNCE", "COMPLAINT"]
    )
    attributes = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["SuppressionAttributes"]
    assert attributes == {
        "SuppressionScope": "ACCOUNT",
        "SuppressedReasons": ["BOUNCE", "COMPLAINT"],
    }
    # Both left out: back to the account's list and reasons.
    sandbox.sesv2.put_tenant_suppression_attributes(TenantName="acme")
    assert "SuppressionAttributes" not in sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]
    refused = error_of(
        sandbox.sesv2.put_tenant_suppression_attributes, TenantName="nobody", SuppressedReasons=[]
    )
    assert refused[0] in ("BadRequestException", "NotFoundException")
    missing = error_of(sandbox.sesv2.put_tenant_suppression_attributes, TenantName="nobody")
    assert missing[0] == "NotFoundException"


# ------------------------------------------------------------------ associations


def test_resources_are_associated_listed_and_dissociated(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.create_email_template(
        TemplateName="hello", TemplateContent={"Subject": "Hi", "Text": "Hello"}
    )
    sandbox.sesv2.create_tenant(TenantName="acme")
    sandbox.sesv2.create_tenant(TenantName="globex")
    identity = arn(sandbox, "identity", SENDER)
    config = arn(sandbox, "configuration-set", CONFIG_SET)
    template = arn(sandbox, "template", "hello")
    for resource in (identity, config, template):
        sandbox.sesv2.create_tenant_resource_association(TenantName="acme", ResourceArn=resource)
    sandbox.sesv2.create_tenant_resource_association(TenantName="globex", ResourceArn=identity)

    resources = sandbox.sesv2.list_tenant_resources(TenantName="acme")["TenantResources"]
    assert sorted((r["ResourceType"], r["ResourceArn"]) for r in resources) == sorted(
        [("EMAIL_IDENTITY", identity), ("CONFIGURATION_SET", config), ("EMAIL_TEMPLATE", template)]
    )
    only_sets = sandbox.sesv2.list_tenant_resources(
        TenantName="acme", Filter={"RESOURCE_TYPE": "CONFIGURATION_SET"}
    )["TenantResources"]
    assert [r["ResourceArn"] for r in only_sets] == [config]
    tenants = sandbox.sesv2.list_resource_tenants(ResourceArn=identity)["ResourceTenants"]
    assert [(t["TenantName"], t["ResourceArn"]) for t in tenants] == [
        ("acme", identity),
        ("globex", identity),
    ]
    assert (
        tenants[0]["TenantId"] == sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantId"]
    )

    sandbox.sesv2.delete_tenant_resource_association(TenantName="acme", ResourceArn=identity)
    tenants = sandbox.sesv2.list_resource_tenants(ResourceArn=identity)["ResourceTenants"]
    assert [t["TenantName"] for t in tenants] == ["globex"]
    # Deleting a tenant removes its associations, never the resources.
    sandbox.sesv2.delete_tenant(TenantName="globex")
    assert sandbox.sesv2.list_resource_tenants(ResourceArn=identity)["ResourceTenants"] == []
    assert sandbox.sesv2.get_email_identity(EmailIdentity=SENDER)["IdentityType"] == "EMAIL_ADDRESS"


def test_association_errors(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.create_tenant(TenantName="acme")
    config = arn(sandbox, "configuration-set", CONFIG_SET)
    associate = sandbox.sesv2.create_tenant_resource_association
    associate(TenantName="acme", ResourceArn=config)
    assert error_of(associate, TenantName="acme", ResourceArn=config)[0] == (
        "AlreadyExistsException"
    )
    assert error_of(associate, TenantName="nobody", ResourceArn=config)[0] == "NotFoundException"
    missing = arn(sandbox, "configuration-set", "nowhere")
    assert error_of(associate, TenantName="acme", ResourceArn=missing)[0] == "NotFoundException"
    foreign = config.replace(REGION, "eu-west-1")
    assert error_of(associate, TenantName="acme", ResourceArn=foreign)[0] == "NotFoundException"
    topic = arn(sandbox, "contact-list", "news")
    assert error_of(associate, TenantName="acme", ResourceArn=topic)[0] == "BadRequestException"
    assert error_of(associate, TenantName="acme", ResourceArn="not-an-arn")[0] == (
        "BadRequestException"
    )
    dissociate = sandbox.sesv2.delete_tenant_resource_association
    identity = arn(sandbox, "identity", SENDER)
    assert error_of(dissociate, TenantName="acme", ResourceArn=identity)[0] == "NotFoundException"
    assert (
        error_of(sandbox.sesv2.list_tenant_resources, TenantName="nobody")[0] == "NotFoundException"
    )
    assert error_of(sandbox.sesv2.list_resource_tenants, ResourceArn=missing)[0] == (
        "NotFoundException"
    )


# ------------------------------------------------------------------- TenantName


def test_a_send_through_a_tenant_needs_every_resource_associated(
    sandbox: SandboxClient,
) -> None:
    quiet_events_route(sandbox)
    sandbox.sesv2.create_email_template(
        TemplateName="hello", TemplateContent={"Subject": "Hi", "Text": "Hello"}
    )
    sandbox.sesv2.create_tenant(TenantName="acme")
    code, message, _ = error_of(send, sandbox, "nobody")
    assert (code, message) == ("NotFoundException", "Tenant nobody does not exist.")

    associate = sandbox.sesv2.create_tenant_resource_association
    code, message, _ = error_of(send, sandbox, "acme")
    assert code == "BadRequestException"
    assert f"Configuration set {CONFIG_SET} is not associated with tenant acme" in message
    associate(TenantName="acme", ResourceArn=arn(sandbox, "configuration-set", CONFIG_SET))
    code, message, _ = error_of(send, sandbox, "acme")
    assert (code, f"Identity {SENDER} is not associated") == (
        "BadRequestException",
        message.partition(" with")[0],
    )
    associate(TenantName="acme", ResourceArn=arn(sandbox, "identity", SENDER))
    assert send(sandbox, "acme")

    # A tenant send needs a configuration set, named or the identity's default.
    code, message, _ = error_of(send, sandbox, "acme", ConfigurationSetName="")
    assert code == "BadRequestException"
    sandbox.sesv2.put_email_identity_configuration_set_attributes(
        EmailIdentity=SENDER, ConfigurationSetName=CONFIG_SET
    )
    assert sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [SUCCESS]},
        Content=SIMPLE,
        TenantName="acme",
    )["MessageId"]

    template = {"Template": {"TemplateName": "hello", "TemplateData": "{}"}}
    code, message, _ = error_of(send, sandbox, "acme", Content=template)
    assert (code, message) == (
        "BadRequestException",
        "Template hello is not associated with tenant acme.",
    )
    inline = {
        "Template": {"TemplateContent": {"Subject": "Hi", "Text": "Hello"}, "TemplateData": "{}"}
    }
    assert send(sandbox, "acme", Content=inline)  # an inline template is no resource
    associate(TenantName="acme", ResourceArn=arn(sandbox, "template", "hello"))
    assert send(sandbox, "acme", Content=template)
    # Sends that name no tenant are not checked.
    assert send(sandbox, None)


def test_a_domain_identity_covers_its_addresses(sandbox: SandboxClient) -> None:
    quiet_events_route(sandbox)
    sandbox.sesv2.create_email_identity(EmailIdentity="example.com")
    sandbox.sesv2.create_tenant(TenantName="acme")
    for resource in (
        arn(sandbox, "identity", "example.com"),
        arn(sandbox, "configuration-set", CONFIG_SET),
    ):
        sandbox.sesv2.create_tenant_resource_association(TenantName="acme", ResourceArn=resource)
    assert send(sandbox, "acme")


def test_a_bulk_send_through_a_tenant_is_checked_once_for_the_call(
    sandbox: SandboxClient,
) -> None:
    quiet_events_route(sandbox)
    sandbox.sesv2.create_email_template(
        TemplateName="hello", TemplateContent={"Subject": "Hi {{name}}", "Text": "Hello"}
    )
    tenant_ready(sandbox, "acme")

    def bulk() -> list[dict[str, Any]]:
        response = sandbox.sesv2.send_bulk_email(
            FromEmailAddress=SENDER,
            ConfigurationSetName=CONFIG_SET,
            TenantName="acme",
            DefaultContent={
                "Template": {"TemplateName": "hello", "TemplateData": '{"name": "you"}'}
            },
            BulkEmailEntries=[{"Destination": {"ToAddresses": [SUCCESS]}}] * 2,
        )
        return list(response["BulkEmailEntryResults"])

    code, message, _ = error_of(bulk)
    assert (code, message) == (
        "BadRequestException",
        "Template hello is not associated with tenant acme.",
    )
    sandbox.sesv2.create_tenant_resource_association(
        TenantName="acme", ResourceArn=arn(sandbox, "template", "hello")
    )
    assert [r["Status"] for r in bulk()] == ["SUCCESS", "SUCCESS"]


# --------------------------------------------------------------------- feedback


def test_events_of_a_tenant_send_carry_its_name_as_a_tag(sandbox: SandboxClient) -> None:
    pipeline = quiet_events_route(sandbox)
    tenant_ready(sandbox, "acme")
    through_tenant = send(
        sandbox, "acme", Destination={"ToAddresses": [SUCCESS, "bounce@simulator.amazonses.com"]}
    )
    without = send(sandbox, None)
    payloads = sandbox.feedback(pipeline.queue_url)
    mine = [p for p in payloads if p["mail"]["messageId"] == through_tenant]
    assert sorted(p["eventType"] for p in mine) == ["Bounce", "Delivery", "Send"]
    for payload in mine:
        assert payload["mail"]["tags"]["ses:tenant-name"] == ["acme"]
        assert payload["mail"]["tags"]["ses:configuration-set"] == [CONFIG_SET]
    others = [p for p in payloads if p["mail"]["messageId"] == without]
    assert others
    assert all("ses:tenant-name" not in p["mail"]["tags"] for p in others)


def test_notifications_of_a_tenant_send_carry_the_tag_on_bounces_and_complaints(
    sandbox: SandboxClient,
) -> None:
    pipeline = sandbox.pipeline()
    quiet_events_route(sandbox, types=[])
    for kind in ("Bounce", "Complaint", "Delivery"):
        sandbox.ses.set_identity_notification_topic(
            Identity=SENDER, NotificationType=kind, SnsTopic=pipeline.topic_arn
        )
    sandbox.feedback(pipeline.queue_url)
    tenant_ready(sandbox, "acme")
    send(
        sandbox,
        "acme",
        Destination={
            "ToAddresses": ["bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"]
        },
    )
    payloads = sandbox.feedback(pipeline.queue_url)
    assert sorted(p["notificationType"] for p in payloads) == ["Bounce", "Complaint", "Delivery"]
    for payload in only(payloads, "Bounce") + only(payloads, "Complaint"):
        assert payload["mail"]["tags"] == {"ses:tenant-name": ["acme"]}
    assert "tags" not in only(payloads, "Delivery")[0]["mail"]


def test_the_tenant_list_bounces_with_its_own_sub_type(sandbox: SandboxClient) -> None:
    pipeline = quiet_events_route(sandbox)
    sandbox.set_account(production=True)
    tenant_ready(sandbox, "acme")
    tenant_ready(sandbox, "globex")
    for name in ("acme", "globex"):
        sandbox.sesv2.put_tenant_suppression_attributes(
            TenantName=name, SuppressionScope="TENANT", SuppressedReasons=["BOUNCE", "COMPLAINT"]
        )
    listed = "gone@example.net"
    sandbox.sesv2.put_suppressed_destination(
        EmailAddress=listed, Reason="BOUNCE", TenantName="acme"
    )
    entry = sandbox.sesv2.get_suppressed_destination(EmailAddress=listed, TenantName="acme")
    assert entry["SuppressedDestination"]["TenantName"] == "acme"
    assert error_of(sandbox.sesv2.get_suppressed_destination, EmailAddress=listed)[0] == (
        "NotFoundException"
    )

    acme = send(sandbox, "acme", Destination={"ToAddresses": [listed]})
    globex = send(sandbox, "globex", Destination={"ToAddresses": [listed]})
    payloads = sandbox.feedback(pipeline.queue_url)
    bounces = {p["mail"]["messageId"]: p["bounce"] for p in only(payloads, "Bounce")}
    assert list(bounces) == [acme]
    assert bounces[acme]["bounceType"] == "Permanent"
    assert bounces[acme]["bounceSubType"] == "OnTenantSuppressionList"
    assert bounces[acme]["bouncedRecipients"][0]["diagnosticCode"] == (
        "Amazon SES did not send the message to this address because it is on the suppression "
        "list for your tenant."
    )
    delivered = [p["mail"]["messageId"] for p in only(payloads, "Delivery")]
    assert delivered == [globex]


def test_a_tenant_scoped_hard_bounce_lands_on_the_tenant_list_only(
    sandbox: SandboxClient,
) -> None:
    quiet_events_route(sandbox)
    sandbox.set_account(production=True)
    sandbox.control("POST", "/recipients", {"pattern": "*@bad.example.net", "outcome": "bounce"})
    sandbox.sesv2.create_tenant(
        TenantName="acme",
        SuppressionAttributes={"SuppressionScope": "TENANT", "SuppressedReasons": ["BOUNCE"]},
    )
    for resource in (
        arn(sandbox, "identity", SENDER),
        arn(sandbox, "configuration-set", CONFIG_SET),
    ):
        sandbox.sesv2.create_tenant_resource_association(TenantName="acme", ResourceArn=resource)
    send(sandbox, "acme", Destination={"ToAddresses": ["who@bad.example.net"]})
    sandbox.drain()
    listed = sandbox.sesv2.list_suppressed_destinations(TenantName="acme")
    assert [s["EmailAddress"] for s in listed["SuppressedDestinationSummaries"]] == [
        "who@bad.example.net"
    ]
    account_list = sandbox.sesv2.list_suppressed_destinations()["SuppressedDestinationSummaries"]
    assert account_list == []
    sandbox.sesv2.delete_suppressed_destination(
        EmailAddress="who@bad.example.net", TenantName="acme"
    )
    assert (
        sandbox.sesv2.list_suppressed_destinations(TenantName="acme")[
            "SuppressedDestinationSummaries"
        ]
        == []
    )
    assert (
        error_of(sandbox.sesv2.list_suppressed_destinations, TenantName="nobody")[0]
        == "NotFoundException"
    )


# ------------------------------------------------------------- reputation entities


def two_tenants(sandbox: SandboxClient) -> None:
    """acme and globex, ready to send from the same sender and set, in a production account
    where ``*@complaint.example.net`` complains and ``*@bounce.example.net`` bounces."""
    quiet_events_route(sandbox)
    sandbox.set_account(production=True)
    sandbox.control(
        "POST", "/recipients", {"pattern": "*@complaint.example.net", "outcome": "complaint"}
    )
    sandbox.control("POST", "/recipients", {"pattern": "*@bounce.example.net", "outcome": "bounce"})
    tenant_ready(sandbox, "acme")
    tenant_ready(sandbox, "globex")


def to(good: int, *bad: str) -> dict[str, list[str]]:
    """``good`` recipients who take the mail, then ``bad``."""
    return {"ToAddresses": [f"reader{i}@example.net" for i in range(good)] + list(bad)}


def entity(sandbox: SandboxClient, tenant: str) -> dict[str, Any]:
    sandbox.drain()
    reference = sandbox.sesv2.get_tenant(TenantName=tenant)["Tenant"]["TenantArn"]
    found: dict[str, Any] = sandbox.sesv2.get_reputation_entity(
        ReputationEntityType="RESOURCE", ReputationEntityReference=reference
    )["ReputationEntity"]
    return found


def test_a_new_tenant_is_an_enabled_entity_under_the_standard_policy(
    sandbox: SandboxClient,
) -> None:
    sandbox.sesv2.create_tenant(TenantName="acme")
    found = entity(sandbox, "acme")
    assert found["ReputationEntityReference"].endswith(
        ":tenant/acme/" + found["ReputationEntityReference"].rpartition("/")[2]
    )
    assert found["ReputationEntityType"] == "RESOURCE"
    assert found["ReputationManagementPolicy"] == (
        f"arn:aws:ses:{REGION}:aws:reputation-policy/standard"
    )
    assert found["CustomerManagedStatus"]["Status"] == "ENABLED"
    assert found["AwsSesManagedStatus"]["Status"] == "ENABLED"
    assert found["SendingStatusAggregate"] == "ENABLED"
    assert "ReputationImpact" not in found


def test_complaints_pause_one_tenant_while_the_other_sends(sandbox: SandboxClient) -> None:
    two_tenants(sandbox)
    send(sandbox, "acme", Destination=to(19))
    send(sandbox, "globex", Destination=to(19))
    assert entity(sandbox, "acme")["SendingStatusAggregate"] == "ENABLED"
    # One complaint in 20 recipients: 5%, over the 0.5% of a high-impact finding.
    send(sandbox, "acme", Destination=to(0, "angry@complaint.example.net"))

    paused = entity(sandbox, "acme")
    assert paused["ReputationImpact"] == "HIGH"
    assert paused["AwsSesManagedStatus"]["Status"] == "DISABLED"
    assert "complaint rate exceeded 0.5%" in paused["AwsSesManagedStatus"]["Cause"]
    assert paused["CustomerManagedStatus"]["Status"] == "ENABLED"
    assert paused["SendingStatusAggregate"] == "DISABLED"
    assert sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["SendingStatus"] == "DISABLED"
    code, message, _ = error_of(send, sandbox, "acme")
    assert (code, message) == ("SendingPausedException", "Sending paused for tenant acme.")

    assert entity(sandbox, "globex")["SendingStatusAggregate"] == "ENABLED"
    assert send(sandbox, "globex")
    assert send(sandbox, None)  # the account itself is not paused

    figures = sandbox.controls.tenant("acme")
    assert (figures.attempts, figures.bounces, figures.complaints) == (20, 0, 1)
    assert (figures.aws_status, figures.impact, figures.sending_status) == (
        "DISABLED",
        "HIGH",
        "DISABLED",
    )

    # Reinstated, it sends despite its open finding.
    sandbox.sesv2.update_reputation_entity_customer_managed_status(
        ReputationEntityType="RESOURCE",
        ReputationEntityReference=paused["ReputationEntityReference"],
        SendingStatus="REINSTATED",
    )
    reinstated = entity(sandbox, "acme")
    assert reinstated["SendingStatusAggregate"] == "REINSTATED"
    assert reinstated["AwsSesManagedStatus"]["Status"] == "ENABLED"
    assert reinstated["ReputationImpact"] == "HIGH"
    assert send(sandbox, "acme")


def test_the_policy_decides_which_findings_pause(sandbox: SandboxClient) -> None:
    two_tenants(sandbox)
    reference = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]

    def policy(name: str) -> None:
        sandbox.sesv2.update_reputation_entity_policy(
            ReputationEntityType="RESOURCE",
            ReputationEntityReference=reference,
            ReputationEntityPolicy=f"arn:aws:ses:{REGION}:aws:reputation-policy/{name}",
        )

    # One hard bounce in 20: 5%, a low-impact finding, which the standard policy lets send.
    send(sandbox, "acme", Destination=to(19, "gone@bounce.example.net"))
    found = entity(sandbox, "acme")
    assert (found["ReputationImpact"], found["SendingStatusAggregate"]) == ("LOW", "ENABLED")
    policy("strict")
    found = entity(sandbox, "acme")
    assert found["ReputationManagementPolicy"].endswith("/strict")
    assert found["SendingStatusAggregate"] == "DISABLED"
    assert "bounce rate exceeded 5.0%" in found["AwsSesManagedStatus"]["Cause"]
    assert error_of(send, sandbox, "acme")[0] == "SendingPausedException"
    policy("none")
    assert entity(sandbox, "acme")["SendingStatusAggregate"] == "ENABLED"
    assert send(sandbox, "acme")


def test_the_customer_pauses_and_resumes_a_tenant(sandbox: SandboxClient) -> None:
    two_tenants(sandbox)
    reference = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    update = sandbox.sesv2.update_reputation_entity_customer_managed_status
    update(
        ReputationEntityType="RESOURCE",
        ReputationEntityReference=reference,
        SendingStatus="DISABLED",
    )
    found = entity(sandbox, "acme")
    assert found["CustomerManagedStatus"]["Status"] == "DISABLED"
    assert found["CustomerManagedStatus"]["Cause"] == "Status manually updated."
    assert found["AwsSesManagedStatus"]["Status"] == "ENABLED"
    assert found["SendingStatusAggregate"] == "DISABLED"
    assert error_of(send, sandbox, "acme")[0] == "SendingPausedException"
    assert send(sandbox, "globex")
    filtered = sandbox.sesv2.list_tenants(Filter={"SENDING_STATUS": "DISABLED"})["Tenants"]
    assert [t["TenantName"] for t in filtered] == ["acme"]
    update(
        ReputationEntityType="RESOURCE",
        ReputationEntityReference=reference,
        SendingStatus="ENABLED",
    )
    assert send(sandbox, "acme")


def test_simulator_mail_does_not_count_toward_a_tenant_reputation(
    sandbox: SandboxClient,
) -> None:
    two_tenants(sandbox)
    complaint = "complaint@simulator.amazonses.com"
    send(sandbox, "acme", Destination={"ToAddresses": [SUCCESS] * 24 + [complaint]})
    figures = sandbox.controls.tenant("acme")
    assert (figures.attempts, figures.complaints, figures.impact) == (0, 0, None)


def test_reputation_entities_are_listed_and_filtered(sandbox: SandboxClient) -> None:
    two_tenants(sandbox)
    send(sandbox, "acme", Destination=to(19, "angry@complaint.example.net"))
    sandbox.drain()
    listed = sandbox.sesv2.list_reputation_entities()["ReputationEntities"]
    arns = {
        t: sandbox.sesv2.get_tenant(TenantName=t)["Tenant"]["TenantArn"] for t in ("acme", "globex")
    }
    assert sorted(e["ReputationEntityReference"] for e in listed) == sorted(arns.values())
    for key, value, expected in (
        ("SENDING_STATUS", "DISABLED", ["acme"]),
        ("SENDING_STATUS", "ENABLED", ["globex"]),
        ("REPUTATION_IMPACT", "HIGH", ["acme"]),
        ("ENTITY_TYPE", "RESOURCE", ["acme", "globex"]),
        ("ENTITY_REFERENCE_PREFIX", arns["globex"].rpartition("/")[0], ["globex"]),
    ):
        found = sandbox.sesv2.list_reputation_entities(Filter={key: value})["ReputationEntities"]
        references = sorted(e["ReputationEntityReference"] for e in found)
        assert references == sorted(arns[t] for t in expected), key
    pages = list(
        sandbox.sesv2.get_paginator("list_reputation_entities").paginate(
            PaginationConfig={"PageSize": 1}
        )
    )
    assert [len(p["ReputationEntities"]) for p in pages] == [1, 1]


def test_reputation_entity_errors(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_tenant(TenantName="acme")
    reference = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    unknown = reference.rpartition("/")[0] + "/tn-0000"
    get = sandbox.sesv2.get_reputation_entity
    assert (
        error_of(get, ReputationEntityType="RESOURCE", ReputationEntityReference=unknown)[0]
        == "NotFoundException"
    )
    assert (
        error_of(get, ReputationEntityType="TENANT", ReputationEntityReference=reference)[0]
        == "BadRequestException"
    )
    policy = sandbox.sesv2.update_reputation_entity_policy
    for reference_given, policy_given in (
        (reference, f"arn:aws:ses:{REGION}:aws:reputation-policy/lenient"),
        (reference, "standard"),
        (unknown, f"arn:aws:ses:{REGION}:aws:reputation-policy/strict"),
    ):
        code = error_of(
            policy,
            ReputationEntityType="RESOURCE",
            ReputationEntityReference=reference_given,
            ReputationEntityPolicy=policy_given,
        )[0]
        assert code == "BadRequestException", (reference_given, policy_given)
    status = sandbox.sesv2.update_reputation_entity_customer_managed_status
    for reference_given, status_given in ((reference, "PAUSED"), (unknown, "DISABLED")):
        code = error_of(
            status,
            ReputationEntityType="RESOURCE",
            ReputationEntityReference=reference_given,
            SendingStatus=status_given,
        )[0]
        assert code == "BadRequestException"
    assert entity(sandbox, "acme")["SendingStatusAggregate"] == "ENABLED"
    with pytest.raises(SandboxControlError) as refused:
        sandbox.controls.tenant("nobody")
    assert refused.value.status == 404


def test_a_resource_a_tenant_uses_cannot_be_deleted(sandbox: SandboxClient) -> None:
    quiet_events_route(sandbox)
    tenant_ready(sandbox, "acme")
    for call, kwargs in (
        (sandbox.sesv2.delete_email_identity, {"EmailIdentity": SENDER}),
        (sandbox.sesv2.delete_configuration_set, {"ConfigurationSetName": CONFIG_SET}),
    ):
        code, message, _ = error_of(call, **kwargs)
        assert code == "BadRequestException"
        assert "associated with tenants acme" in message
    assert error_of(sandbox.ses.delete_identity, Identity=SENDER)[0] == "InvalidParameterValue"
    sandbox.sesv2.delete_tenant(TenantName="acme")
    sandbox.sesv2.delete_configuration_set(ConfigurationSetName=CONFIG_SET)
    sandbox.sesv2.delete_email_identity(EmailIdentity=SENDER)


def test_tenants_survive_the_state_file(sandbox: SandboxClient) -> None:
    quiet_events_route(sandbox)
    sandbox.sesv2.create_tenant(
        TenantName="acme",
        Tags=[{"Key": "plan", "Value": "gold"}],
        SuppressionAttributes={"SuppressionScope": "TENANT", "SuppressedReasons": ["COMPLAINT"]},
    )
    sandbox.sesv2.create_tenant_resource_association(
        TenantName="acme", ResourceArn=arn(sandbox, "configuration-set", CONFIG_SET)
    )
    sandbox.set_account(production=True)
    sandbox.sesv2.put_suppressed_destination(
        EmailAddress="gone@example.net", Reason="COMPLAINT", TenantName="acme"
    )
    reference = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    sandbox.sesv2.update_reputation_entity_customer_managed_status(
        ReputationEntityType="RESOURCE",
        ReputationEntityReference=reference,
        SendingStatus="DISABLED",
    )
    ses = sandbox.server.app.ses
    [state] = [s for (_, region), s in ses.regions.items() if region == REGION]
    restored = RegionState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored.to_json() == state.to_json()
    tenant = restored.tenants["acme"]
    assert tenant.arn(REGION, reference.split(":")[4]) == reference
    assert tenant.customer_status.status == "DISABLED"
    assert tenant.sending_status == "DISABLED"
    assert list(tenant.suppressed) == ["gone@example.net"]
    assert tenant.suppression_scope == "TENANT"


def test_a_raw_message_names_its_tenant_in_a_header(sandbox: SandboxClient) -> None:
    pipeline = quiet_events_route(sandbox)
    tenant_ready(sandbox, "acme")

    def raw(tenant: str) -> str:
        message = (
            f"From: {SENDER}\r\nTo: {SUCCESS}\r\nSubject: Hi\r\nX-SES-TENANT: {tenant}\r\n"
            f"X-SES-CONFIGURATION-SET: {CONFIG_SET}\r\n\r\nBody\r\n"
        )
        response = sandbox.ses.send_raw_email(RawMessage={"Data": message.encode()})
        return str(response["MessageId"])

    sent = raw("acme")
    assert error_of(raw, "nobody")[:1] == ("InvalidParameterValue",)
    payloads = [p for p in sandbox.feedback(pipeline.queue_url) if p["mail"]["messageId"] == sent]
    assert payloads
    for payload in payloads:
        assert payload["mail"]["tags"]["ses:tenant-name"] == ["acme"]
        assert all(h["name"].lower() != "x-ses-tenant" for h in payload["mail"]["headers"])


def test_the_configuration_set_scope_wins_over_the_tenant(sandbox: SandboxClient) -> None:
    pipeline = quiet_events_route(sandbox)
    sandbox.set_account(production=True)
    tenant_ready(sandbox, "acme")
    sandbox.sesv2.create_configuration_set(
        ConfigurationSetName="own-list",
        SuppressionOptions={"SuppressionScope": "TENANT", "SuppressedReasons": ["BOUNCE"]},
    )
    sandbox.sesv2.create_tenant_resource_association(
        TenantName="acme", ResourceArn=arn(sandbox, "configuration-set", "own-list")
    )
    listed = "gone@example.net"
    sandbox.sesv2.put_suppressed_destination(
        EmailAddress=listed, Reason="BOUNCE", TenantName="acme"
    )
    # The tenant itself uses the account's list: through CONFIG_SET the address is sent to.
    delivered = send(sandbox, "acme", Destination={"ToAddresses": [listed]})
    bounced = send(
        sandbox, "acme", Destination={"ToAddresses": [listed]}, ConfigurationSetName="own-list"
    )
    payloads = sandbox.feedback(pipeline.queue_url)
    assert [p["mail"]["messageId"] for p in only(payloads, "Delivery")] == [delivered]
    found = sandbox.server.app.events.list("Bounce", bounced)
    assert [e.body["bounceSubType"] for e in found] == ["OnTenantSuppressionList"]


def test_findings_close_as_the_traffic_ages_out_of_the_window() -> None:
    tenant = Tenant.new("acme", {})
    sent_at = 1_000_000.0
    tenant.traffic.append((sent_at, 20, 0, 1))  # 20 recipients, one complaint
    tenant_reputation.judge(tenant, sent_at + 60)
    assert (tenant.impact, tenant.aws_status.status, tenant.sending_status) == (
        "HIGH",
        "DISABLED",
        "DISABLED",
    )
    tenant.customer_status.status = "REINSTATED"
    tenant_reputation.judge(tenant, sent_at + 120)
    assert (tenant.aws_status.status, tenant.sending_status) == ("ENABLED", "REINSTATED")
    # A day later the complaint is out of the window: the finding closes, and so does the
    # reinstatement.
    tenant_reputation.judge(tenant, sent_at + tenant_reputation.WINDOW + 1)
    assert tenant.impact is None
    assert (tenant.customer_status.status, tenant.sending_status) == ("ENABLED", "ENABLED")
    assert tenant.customer_status.cause == "All reputation findings resolved."


def test_tenant_resources_and_resource_tenants_are_listed_page_by_page(
    sandbox: SandboxClient,
) -> None:
    quiet_events_route(sandbox)
    tenant_ready(sandbox, "acme")
    tenant_ready(sandbox, "globex")
    resources = list(
        sandbox.sesv2.get_paginator("list_tenant_resources").paginate(
            TenantName="acme", PaginationConfig={"PageSize": 1}
        )
    )
    assert [len(p["TenantResources"]) for p in resources] == [1, 1]
    tenants = list(
        sandbox.sesv2.get_paginator("list_resource_tenants").paginate(
            ResourceArn=arn(sandbox, "identity", SENDER), PaginationConfig={"PageSize": 1}
        )
    )
    assert [t["TenantName"] for p in tenants for t in p["ResourceTenants"]] == ["acme", "globex"]


def test_the_plugin_reads_a_tenant_reputation(sandbox: SandboxClient) -> None:
    two_tenants(sandbox)
    send(sandbox, "acme", Destination=to(19, "angry@complaint.example.net"))
    plugin = SesSandbox(url=sandbox.url, region=REGION, control=SandboxControl(sandbox.url))
    acme, globex = plugin.tenant("acme"), plugin.tenant("globex")
    assert (acme.sending_status, acme.complaints, acme.attempts) == ("DISABLED", 1, 20)
    assert acme.aws_cause is not None
    assert "complaint rate" in acme.aws_cause
    assert acme.arn == sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    assert (globex.sending_status, globex.attempts, globex.impact) == ("ENABLED", 0, None)


def test_a_tenant_is_tagged_by_its_arn(sandbox: SandboxClient) -> None:
    tenant_arn = sandbox.sesv2.create_tenant(
        TenantName="acme", Tags=[{"Key": "plan", "Value": "gold"}]
    )["TenantArn"]
    sandbox.sesv2.tag_resource(ResourceArn=tenant_arn, Tags=[{"Key": "team", "Value": "a"}])
    sandbox.sesv2.untag_resource(ResourceArn=tenant_arn, TagKeys=["plan"])
    assert sandbox.sesv2.list_tags_for_resource(ResourceArn=tenant_arn)["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    assert sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    stale = tenant_arn.rpartition("/")[0] + "/tn-0000"
    assert error_of(sandbox.sesv2.list_tags_for_resource, ResourceArn=stale)[0] == (
        "NotFoundException"
    )
