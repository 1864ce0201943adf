"""SES tenants in the sandbox: the tenant APIs, TenantName on sends, and what the feedback of a
tenant's sends carries (docs/ses.md#tenants)."""

from __future__ import annotations

from typing import Any

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
