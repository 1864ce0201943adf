"""Open and click tracking: rewritten copies, the tracking links, Open and Click events."""

from __future__ import annotations

import http.client
import urllib.parse
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import (
    ALL_EVENT_TYPES,
    CONFIG_SET,
    control_error,
    letters,
    only,
    quiet_events_route,
)
from tests.sandbox.helpers import error_of as error

READER = "reader@example.net"
TRACKED = [*ALL_EVENT_TYPES, "OPEN", "CLICK"]
LINK = "https://example.org/offer?x=1&y=2"
HTML = (
    "<html><body><p>Hello</p>\n"
    '<a href="https://example.org/offer?x=1&amp;y=2" ses:tags="campaign:may;part:top;">Offer</a>\n'
    '<a href="mailto:help@example.org">Help</a> <a href="#top">Top</a>\n'
    '<a ses:no-track href="https://example.org/private">Private</a>\n'
    "</body></html>"
)
TEXT = f"Offer: {LINK}"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) courrier-tests"


def send_html(sandbox: SandboxClient, api: str, **extra: Any) -> str:
    if api == "v1":
        response = sandbox.ses.send_email(
            Source=SENDER,
            Destination={"ToAddresses": [READER]},
            Message={
                "Subject": {"Data": "Offer"},
                "Body": {"Html": {"Data": HTML}, "Text": {"Data": TEXT}},
            },
            ConfigurationSetName=CONFIG_SET,
            **extra,
        )
    elif api == "v2":
        response = sandbox.sesv2.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [READER]},
            Content={
                "Simple": {
                    "Subject": {"Data": "Offer"},
                    "Body": {"Html": {"Data": HTML}, "Text": {"Data": TEXT}},
                }
            },
            ConfigurationSetName=CONFIG_SET,
            **extra,
        )
    else:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, READER, "Offer"
        message.set_content(TEXT)
        message.add_alternative(HTML, subtype="html")
        response = sandbox.sesv2.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [READER]},
            Content={"Raw": {"Data": message.as_bytes()}},
            ConfigurationSetName=CONFIG_SET,
            **extra,
        )
    return str(response["MessageId"])


def tracked(sandbox: SandboxClient, types: list[str] = TRACKED) -> Any:
    sandbox.ses.verify_email_identity(EmailAddress=READER)
    return quiet_events_route(sandbox, types)


def get(url: str, user_agent: str = BROWSER) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects, as a mail client or browser would send it."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"User-Agent": user_agent})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def hrefs(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('href="')[1:]]


@pytest.mark.parametrize("api", ["v1", "v2", "v2-raw"])
def test_opens_and_clicks_of_a_delivered_copy(sandbox: SandboxClient, api: str) -> None:
    pipeline = tracked(sandbox)
    message_id = send_html(sandbox, api)
    [copy] = letters(sandbox, READER)
    links = hrefs(copy["html"])
    prefix = f"{sandbox.url}/L0/"
    assert links[0].startswith(prefix)
    assert links[0].endswith(f"/1/{message_id}/0")
    # Only http(s) links without ses:no-track are rewritten; plain text is left alone.
    assert links[1:] == ["mailto:help@example.org", "#top", "https://example.org/private"]
    assert copy["text"].strip() == TEXT
    pixel = f'<img alt="" src="{sandbox.url}/I0/{message_id}/0"'
    assert pixel in copy["html"]
    assert copy["html"].index(pixel) < copy["html"].index("</body>")

    status, headers, body = get(f"{sandbox.url}/I0/{message_id}/0")
    assert (status, headers["Content-Type"], body[:6]) == (200, "image/gif", b"GIF89a")
    status, headers, _ = get(links[0].replace("&amp;", "&"))
    assert (status, headers["Location"]) == (302, LINK)

    events = sandbox.feedback(pipeline.queue_url)
    [opened] = only(events, "Open")
    assert opened["open"]["userAgent"] == BROWSER
    assert opened["open"]["ipAddress"] == "127.0.0.1"
    assert opened["open"]["timestamp"].endswith("Z")
    [clicked] = only(events, "Click")
    assert clicked["click"]["link"] == LINK
    assert clicked["click"]["linkTags"] == {"campaign": ["may"], "part": ["top"]}
    assert clicked["click"]["userAgent"] == BROWSER
    for event in (opened, clicked):
        assert event["mail"]["messageId"] == message_id
        assert event["mail"]["tags"]["ses:configuration-set"] == [CONFIG_SET]
        assert event["envelope"]["Subject"] == "Amazon SES Email Event Notification"


def test_the_mailbox_pages_open_and_click(sandbox: SandboxClient) -> None:
    pipeline = tracked(sandbox)
    message_id = send_html(sandbox, "v2")
    [copy] = letters(sandbox, READER)
    opened = sandbox.control(
        "POST", f"/mailbox/{copy['id']}/open", {"ip_address": "192.0.2.1", "user_agent": "Mail"}
    )
    assert opened == {"opened": message_id}
    assert sandbox.control("POST", f"/mailbox/{copy['id']}/click") == {"clicked": LINK}
    assert sandbox.control("POST", f"/mailbox/{copy['id']}/click", {"link": LINK})["clicked"]
    events = sandbox.feedback(pipeline.queue_url)
    assert only(events, "Open")[0]["open"]["ipAddress"] == "192.0.2.1"
    assert len(only(events, "Click")) == 2
    status, message = control_error(
        sandbox, "POST", f"/mailbox/{copy['id']}/click", {"link": "https://example.org/private"}
    )
    assert status == 404
    assert "is not a tracked link" in message
    assert LINK in message
    assert control_error(sandbox, "POST", "/mailbox/999/open")[0] == 404
    assert control_error(sandbox, "POST", f"/mailbox/{copy['id']}/open", {"ip": 1})[0] == 400


def test_without_open_or_click_destinations_nothing_is_tracked(sandbox: SandboxClient) -> None:
    tracked(sandbox, ALL_EVENT_TYPES)
    message_id = send_html(sandbox, "v2")
    [copy] = letters(sandbox, READER)
    assert copy["html"].replace("\r\n", "\n").strip() == HTML
    status, message = control_error(sandbox, "POST", f"/mailbox/{copy['id']}/open")
    assert (status, message) == (404, f"Message {message_id} is not tracked for opens.")
    assert control_error(sandbox, "POST", f"/mailbox/{copy['id']}/click")[0] == 404


def test_overrides_turn_tracking_on_and_off(sandbox: SandboxClient) -> None:
    pipeline = tracked(sandbox, ["DELIVERY", "CLICK"])
    send_html(
        sandbox,
        "v2",
        ConfigurationOverrides={
            "Tracking": {"OpenTrackingEnabled": "ENABLED", "ClickTrackingEnabled": "DISABLED"}
        },
    )
    [copy] = letters(sandbox, READER)
    assert "/I0/" in copy["html"]
    assert "/L0/" not in copy["html"]
    # Tracked for VDM only: no destination publishes opens (botocore's sesv2 model).
    sandbox.control("POST", f"/mailbox/{copy['id']}/open")
    assert only(sandbox.feedback(pipeline.queue_url), "Open") == []


def test_custom_redirect_domain_and_https_policy(sandbox: SandboxClient) -> None:
    tracked(sandbox)
    code, message, status = error(
        sandbox.sesv2.put_configuration_set_tracking_options,
        ConfigurationSetName=CONFIG_SET,
        CustomRedirectDomain="track.example.com",
    )
    assert (code, status) == ("BadRequestException", 400)
    assert message.startswith("Tracking domain <track.example.com> is not verified")
    sandbox.sesv2.create_email_identity(EmailIdentity="example.com")
    sandbox.sesv2.put_configuration_set_tracking_options(
        ConfigurationSetName=CONFIG_SET,
        CustomRedirectDomain="track.example.com",
        HttpsPolicy="REQUIRE_OPEN_ONLY",
    )
    message_id = send_html(sandbox, "v2")
    [copy] = letters(sandbox, READER)
    assert f'src="https://track.example.com/I0/{message_id}/0"' in copy["html"]
    # REQUIRE_OPEN_ONLY: a link keeps its own scheme.
    assert hrefs(copy["html"])[0].startswith("https://track.example.com/L0/https:")
    sandbox.sesv2.put_configuration_set_tracking_options(
        ConfigurationSetName=CONFIG_SET, CustomRedirectDomain="track.example.com"
    )
    message_id = send_html(sandbox, "v2")
    [_, copy] = letters(sandbox, READER)
    assert f'src="http://track.example.com/I0/{message_id}/0"' in copy["html"]
    # A DNS record pointing the domain at the sandbox would reach it: same paths.
    path = urllib.parse.urlsplit(hrefs(copy["html"])[0].replace("&amp;", "&")).path
    assert get(sandbox.url + urllib.parse.quote(path, safe="/:"))[0] == 302


def test_unknown_tracking_links_are_refused(sandbox: SandboxClient) -> None:
    tracked(sandbox)
    message_id = send_html(sandbox, "v2")
    assert get(f"{sandbox.url}/I0/0100-unknown-000000/0")[0] == 404
    assert get(f"{sandbox.url}/L0/https:%2F%2Fx.example/1/{message_id}/7")[0] == 404
