"""Configuration set options, tags and v1's tracking options, through both APIs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SandboxClient
from tests.sandbox.helpers import error_of as error

SET = "options-set"
ARCHIVE = "arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-" + "0" * 24
OPTIONS: dict[str, Any] = {
    "TrackingOptions": {"CustomRedirectDomain": "track.example.com", "HttpsPolicy": "REQUIRE"},
    "DeliveryOptions": {"TlsPolicy": "REQUIRE", "MaxDeliverySeconds": 900},
    "ReputationOptions": {"ReputationMetricsEnabled": True},
    "SuppressionOptions": {"SuppressedReasons": ["BOUNCE"]},
    "VdmOptions": {
        "DashboardOptions": {"EngagementMetrics": "ENABLED"},
        "GuardianOptions": {"OptimizedSharedDelivery": "DISABLED"},
    },
    "ArchivingOptions": {"ArchiveArn": ARCHIVE},
}
TAGS = [{"Key": "team", "Value": "mail"}, {"Key": "empty", "Value": ""}]


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_create_with_every_option_and_tag(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity="example.com")
    sandbox.sesv2.create_configuration_set(
        ConfigurationSetName=SET, SendingOptions={"SendingEnabled": False}, Tags=TAGS, **OPTIONS
    )
    assert without_metadata(sandbox.sesv2.get_configuration_set(ConfigurationSetName=SET)) == {
        "ConfigurationSetName": SET,
        "SendingOptions": {"SendingEnabled": False},
        "Tags": TAGS,
        **OPTIONS,
    }


def test_v2_puts_set_each_option(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity="example.com")
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=SET)
    plain = sandbox.sesv2.get_configuration_set(ConfigurationSetName=SET)
    assert plain["ReputationOptions"] == {"ReputationMetricsEnabled": False}
    assert "TrackingOptions" not in plain
    v2 = sandbox.sesv2
    v2.put_configuration_set_tracking_options(
        ConfigurationSetName=SET, **OPTIONS["TrackingOptions"]
    )
    v2.put_configuration_set_delivery_options(
        ConfigurationSetName=SET, **OPTIONS["DeliveryOptions"]
    )
    v2.put_configuration_set_reputation_options(
        ConfigurationSetName=SET, ReputationMetricsEnabled=True
    )
    v2.put_configuration_set_suppression_options(
        ConfigurationSetName=SET, SuppressedReasons=["BOUNCE"]
    )
    v2.put_configuration_set_vdm_options(ConfigurationSetName=SET, VdmOptions=OPTIONS["VdmOptions"])
    v2.put_configuration_set_archiving_options(ConfigurationSetName=SET, ArchiveArn=ARCHIVE)
    got = v2.get_configuration_set(ConfigurationSetName=SET)
    assert {k: got[k] for k in OPTIONS} == OPTIONS
    # Without a domain or an archive, those options are removed.
    v2.put_configuration_set_tracking_options(ConfigurationSetName=SET)
    v2.put_configuration_set_archiving_options(ConfigurationSetName=SET)
    got = v2.get_configuration_set(ConfigurationSetName=SET)
    assert "TrackingOptions" not in got
    assert "ArchivingOptions" not in got


@pytest.mark.parametrize(
    ("call", "kwargs", "expected"),
    [
        (
            "put_configuration_set_delivery_options",
            {"SendingPoolName": "marketing"},
            ("NotFoundException", "Dedicated IP pool <marketing> does not exist.", 404),
        ),
        (
            "put_configuration_set_delivery_options",
            {"MaxDeliverySeconds": 50401},
            (
                "BadRequestException",
                "1 validation error detected: Value '50401' at 'maxDeliverySeconds' failed to "
                "satisfy constraint: Member must have value less than or equal to 50400",
                400,
            ),
        ),
        (
            "put_configuration_set_tracking_options",
            {"CustomRedirectDomain": "track.example.org"},
            (
                "BadRequestException",
                "Tracking domain <track.example.org> is not verified: verify it, or a domain "
                "it belongs to, first.",
                400,
            ),
        ),
    ],
)
def test_v2_refusals(
    sandbox: SandboxClient, call: str, kwargs: dict[str, Any], expected: tuple[str, str, int]
) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=SET)
    assert error(getattr(sandbox.sesv2, call), ConfigurationSetName=SET, **kwargs) == expected


@pytest.mark.parametrize(
    "call",
    [
        "put_configuration_set_delivery_options",
        "put_configuration_set_reputation_options",
        "put_configuration_set_suppression_options",
        "put_configuration_set_tracking_options",
        "put_configuration_set_vdm_options",
        "put_configuration_set_archiving_options",
    ],
)
def test_options_of_a_missing_set(sandbox: SandboxClient, call: str) -> None:
    assert error(getattr(sandbox.sesv2, call), ConfigurationSetName="nope") == (
        "NotFoundException",
        "Configuration set <nope> does not exist.",
        404,
    )


def test_v1_options(sandbox: SandboxClient) -> None:
    ses = sandbox.ses
    ses.create_configuration_set(ConfigurationSet={"Name": SET})
    ses.update_configuration_set_reputation_metrics_enabled(ConfigurationSetName=SET, Enabled=True)
    ses.put_configuration_set_delivery_options(
        ConfigurationSetName=SET, DeliveryOptions={"TlsPolicy": "Require"}
    )
    got = sandbox.sesv2.get_configuration_set(ConfigurationSetName=SET)
    assert got["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert got["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}
    every = ["eventDestinations", "trackingOptions", "deliveryOptions", "reputationOptions"]
    described = ses.describe_configuration_set(
        ConfigurationSetName=SET, ConfigurationSetAttributeNames=every
    )
    assert described["DeliveryOptions"] == {"TlsPolicy": "Require"}
    assert described["ReputationOptions"] == {
        "SendingEnabled": True,
        "ReputationMetricsEnabled": True,
    }
    assert "TrackingOptions" not in described
    # Sending turned off and on again gives the set's reputation a fresh start.
    ses.update_configuration_set_sending_enabled(ConfigurationSetName=SET, Enabled=False)
    ses.update_configuration_set_sending_enabled(ConfigurationSetName=SET, Enabled=True)
    described = ses.describe_configuration_set(
        ConfigurationSetName=SET, ConfigurationSetAttributeNames=["reputationOptions"]
    )
    assert described["ReputationOptions"]["LastFreshStart"] is not None
    assert error(
        ses.update_configuration_set_reputation_metrics_enabled,
        ConfigurationSetName="nope",
        Enabled=True,
    )[:2] == ("ConfigurationSetDoesNotExist", "Configuration set <nope> does not exist.")


def test_v1_tracking_options(sandbox: SandboxClient) -> None:
    ses = sandbox.ses
    ses.create_configuration_set(ConfigurationSet={"Name": SET})
    tracking = {"CustomRedirectDomain": "track.example.com"}
    assert (
        error(
            ses.create_configuration_set_tracking_options,
            ConfigurationSetName=SET,
            TrackingOptions=tracking,
        )[0]
        == "InvalidTrackingOptions"
    )
    ses.verify_domain_identity(Domain="example.com")
    ses.create_configuration_set_tracking_options(
        ConfigurationSetName=SET, TrackingOptions=tracking
    )
    assert error(
        ses.create_configuration_set_tracking_options,
        ConfigurationSetName=SET,
        TrackingOptions=tracking,
    ) == (
        "TrackingOptionsAlreadyExistsException",
        f"Configuration set <{SET}> already has tracking options.",
        400,
    )
    ses.update_configuration_set_tracking_options(
        ConfigurationSetName=SET, TrackingOptions={"CustomRedirectDomain": "links.example.com"}
    )
    described = ses.describe_configuration_set(
        ConfigurationSetName=SET, ConfigurationSetAttributeNames=["trackingOptions"]
    )
    assert described["TrackingOptions"] == {"CustomRedirectDomain": "links.example.com"}
    ses.delete_configuration_set_tracking_options(ConfigurationSetName=SET)
    assert "TrackingOptions" not in sandbox.sesv2.get_configuration_set(ConfigurationSetName=SET)
    for call, kwargs in [
        (ses.delete_configuration_set_tracking_options, {}),
        (ses.update_configuration_set_tracking_options, {"TrackingOptions": tracking}),
    ]:
        assert error(call, ConfigurationSetName=SET, **kwargs) == (
            "TrackingOptionsDoesNotExistException",
            f"Configuration set <{SET}> has no tracking options.",
            400,
        )
    assert (
        error(ses.delete_configuration_set_tracking_options, ConfigurationSetName="nope")[0]
        == "ConfigurationSetDoesNotExist"
    )
