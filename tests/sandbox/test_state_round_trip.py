"""``--state`` keeps what this round of SES features stores: a JSON round trip loses nothing."""

from __future__ import annotations

import json

from courrier_sandbox.ses.state import RegionState
from tests.conftest import REGION, SENDER, SandboxClient


def test_options_tags_lists_and_mail_from_survive_json(sandbox: SandboxClient) -> None:
    v2 = sandbox.sesv2
    v2.create_email_identity(EmailIdentity="example.com", Tags=[{"Key": "k", "Value": "v"}])
    v2.create_configuration_set(
        ConfigurationSetName="kept",
        TrackingOptions={"CustomRedirectDomain": "track.example.com"},
        DeliveryOptions={"MaxDeliverySeconds": 600},
        SuppressionOptions={"SuppressedReasons": []},
        Tags=[{"Key": "team", "Value": "mail"}],
    )
    v2.put_email_identity_configuration_set_attributes(
        EmailIdentity="example.com", ConfigurationSetName="kept"
    )
    v2.put_email_identity_mail_from_attributes(
        EmailIdentity="example.com",
        MailFromDomain="bounce.example.com",
        BehaviorOnMxFailure="REJECT_MESSAGE",
    )
    v2.create_contact_list(
        ContactListName="news",
        Topics=[{"TopicName": "t", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_OUT"}],
        Tags=[{"Key": "a", "Value": "b"}],
    )
    v2.create_contact(
        ContactListName="news",
        EmailAddress=SENDER,
        TopicPreferences=[{"TopicName": "t", "SubscriptionStatus": "OPT_IN"}],
        AttributesData="{}",
    )
    ses = sandbox.server.app.ses
    [state] = [s for (_, region), s in ses.regions.items() if region == REGION]
    written = json.loads(json.dumps(state.to_json()))
    restored = RegionState.from_json(written)
    assert restored.to_json() == state.to_json()
    assert restored.identities["example.com"].mail_from_behavior == "RejectMessage"
    assert restored.configuration_sets["kept"].suppressed_reasons == []
    contact = restored.contact_lists["news"].contacts[SENDER]
    assert contact.preferences == {"t": "OPT_IN"}
    assert restored.contact_lists["news"].opted_out(SENDER, "t") is False
