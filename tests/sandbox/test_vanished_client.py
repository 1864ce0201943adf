"""A client that disappears before SES's answer still gets its send delivered.

SES accepted the message whether or not the caller read the answer (the ``unknown`` outcome
of a killed sender), so its copy and feedback must follow as for any other send, and
``drain`` must not wait for them for ever.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import urllib.parse
import urllib.request

import boto3

from courrier_sandbox import Sandbox, SesOptions, SimulatorOptions

SENDER = "sender@example.com"
# A verified address that is not the simulator's: the sandbox keeps its delivered copy.
RECIPIENT = "friend@example.net"


def _send_and_vanish(url: str) -> None:
    """A v1 SendEmail whose caller dies with the answer unread (its connection is reset)."""
    body = urllib.parse.urlencode(
        {
            "Action": "SendEmail",
            "Version": "2010-12-01",
            "Source": SENDER,
            "Destination.ToAddresses.member.1": RECIPIENT,
            "Message.Subject.Data": "gone",
            "Message.Body.Text.Data": "the caller never reads this answer",
        }
    ).encode()
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    request = (
        b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/ses/"
        b"aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: %d\r\n\r\n%s"
    ) % (host.encode(), len(body), body)
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(request)
        # The answer has arrived and is never read: the reset reaches the sandbox while it
        # is still finishing the request.
        select.select([conn], [], [], 10)
        # SO_LINGER 0: close() resets the connection instead of a graceful FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_send_whose_caller_vanished_is_delivered_and_drains() -> None:
    server = Sandbox(options=SesOptions(simulator=SimulatorOptions(delay=0.01)))
    url = server.start()
    try:
        ses = boto3.client(
            "ses",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ses.verify_email_identity(EmailAddress=SENDER)
        ses.verify_email_identity(EmailAddress=RECIPIENT)
        for _ in range(5):
            _send_and_vanish(url)
        assert server.drain(10), "the vanished callers' sends never finished"
        with urllib.request.urlopen(f"{url}/_courrier/mailbox", timeout=10) as answer:
            mailbox = json.loads(answer.read())
        subjects = [letter["subject"] for letter in mailbox["messages"]]
        assert subjects.count("gone") == 5
    finally:
        server.stop()
