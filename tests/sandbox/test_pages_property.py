"""The pages behind opens, clicks, unsubscribes and recipient rules, fed anything: a clear
4xx or a success, never a 500, and never a change the page did not announce."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import CONFIG_SET, letters, quiet_events_route
from tests.sandbox.strategies import json_values

READER = "reader@example.net"
#: The message and mailbox letter of :func:`prepared`, made once per test run.
_PREPARED: dict[str, tuple[str, int]] = {}
values = json_values(max_leaves=12, max_size=3)
keys = st.sampled_from(
    [
        "pattern",
        "outcome",
        "delay_type",
        "then",
        "after",
        "status",
        "topics",
        "unsubscribe_all",
        "link",
        "ip_address",
        "user_agent",
    ]
)
bodies = st.one_of(
    st.binary(max_size=100),
    values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(keys, values, max_size=4).map(lambda v: json.dumps(v).encode()),
    st.just(b"List-Unsubscribe=One-Click"),
)


def prepared(sandbox: SandboxClient) -> tuple[str, int]:
    """A delivered, tracked copy of a message sent to a contact list."""
    sandbox.ses.verify_email_identity(EmailAddress=READER)
    quiet_events_route(sandbox, ["DELIVERY", "OPEN", "CLICK", "SUBSCRIPTION"])
    sandbox.sesv2.create_contact_list(
        ContactListName="news",
        Topics=[{"TopicName": "t", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_IN"}],
    )
    html = '<a href="https://example.org/">x</a>'
    message_id = sandbox.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [READER]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Html": {"Data": html}}}},
        ConfigurationSetName=CONFIG_SET,
        ListManagementOptions={"ContactListName": "news", "TopicName": "t"},
    )["MessageId"]
    [copy] = letters(sandbox, READER)
    return str(message_id), int(copy["id"])


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_pages_never_fail(sandbox: SandboxClient, data: st.DataObject) -> None:
    if not sandbox.ses.list_identities()["Identities"]:  # the fixture's reset: set up again
        _PREPARED["sent"] = prepared(sandbox)
    message_id, letter = _PREPARED["sent"]
    path = data.draw(
        st.sampled_from(
            [
                "/_courrier/recipients",
                f"/_courrier/mailbox/{letter}/open",
                f"/_courrier/mailbox/{letter}/click",
                f"/_courrier/unsubscribe/{message_id}/{urllib.parse.quote(READER)}",
                f"/_courrier/unsubscribe/{message_id}/nobody%40example.net",
                "/_courrier/identities/example.com/mail-from",
                f"/I0/{message_id}/0",
                f"/L0/x/1/{message_id}/{data.draw(st.integers(-1, 3))}",
            ]
        )
    )
    method = data.draw(st.sampled_from(["GET", "POST", "DELETE"]))
    content_type = data.draw(
        st.sampled_from(["application/json", "application/x-www-form-urlencoded"])
    )
    body: bytes = data.draw(bodies)
    response = Client(sandbox.server.app).open(
        path, method=method, data=body, headers={"Content-Type": content_type}
    )
    assert response.status_code < 500, (method, path, body, response.get_data()[:300])
    # Tracking links only answer GET; anything else is an unsigned AWS request (an XML 403).
    if response.status_code >= 400 and path.startswith("/_courrier/"):
        answer: Any = json.loads(response.get_data())
        assert answer["message"]
