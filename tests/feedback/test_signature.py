"""SNS signature verification with a real RSA key and certificate made for the test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from courrier.aws.sqs import QueueMessage
from courrier.errors import CertificateUnavailable, UntrustedSignature
from courrier.feedback.signature import SignatureVerifier, canonical_string, check_certificate_url
from courrier.feedback.worker import Worker
from courrier.store import Store
from tests.fakes import ListQueue
from tests.feedback.signing import CERT_URL, Fetcher, signed
from tests.feedback.test_decode import sample


def test_canonical_string_follows_the_facts() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "id",
        "TopicArn": "arn",
        "Message": "m\n",
        "Timestamp": "t",
        "Subject": "s",
        "UnsubscribeURL": "not signed",
    }
    assert canonical_string(envelope) == (
        b"Message\nm\n\nMessageId\nid\nSubject\ns\nTimestamp\nt\nTopicArn\narn\nType\n"
        b"Notification\n"
    )


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
def test_valid_signatures_verify(
    key: rsa.RSAPrivateKey, certificate: bytes, version: str, subject: str | None
) -> None:
    fetcher = Fetcher(certificate)
    verifier = SignatureVerifier(fetch=fetcher)
    verifier.verify(signed(key, version=version, subject=subject))
    verifier.verify(signed(key, version=version, subject=subject))
    assert fetcher.urls == [CERT_URL]  # fetched once, then cached


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Message": "tampered"}, "does not match"),
        ({"TopicArn": "arn:aws:sns:eu-west-1:999999999999:other"}, "does not match"),
        ({"SignatureVersion": "3"}, "unknown SignatureVersion"),
        ({"Signature": "***"}, "not base64"),
        ({"SigningCertURL": "https://evil.example.com/cert.pem"}, "not from an SNS host"),
        ({"SigningCertURL": "http://sns.eu-west-1.amazonaws.com/x.pem"}, "not from an SNS host"),
        (
            {"SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem"},
            "not from an SNS host",
        ),
        ({"SigningCertURL": "https://sns.eu-west-1.amazonaws.com/x.txt"}, "not a .pem"),
        # Parsers disagree on the host of these; every HTTP client must see SNS's or nothing.
        (
            {"SigningCertURL": "https://evil\\@sns.eu-west-1.amazonaws.com/x.pem"},
            "not a plain URL",
        ),
        (
            {"SigningCertURL": "https://evil@sns.eu-west-1.amazonaws.com/x.pem"},
            "not from an SNS host",
        ),
        (
            {"SigningCertURL": "https://sns.eu-west-1.amazonaws.com@evil.example/x.pem"},
            "not from an SNS host",
        ),
        (
            {"SigningCertURL": "https://sns.eu-west-1.amazonaws.com:8443/x.pem"},
            "not from an SNS host",
        ),
        (
            {"SigningCertURL": "https://sns.eu-west-1.amazonaws.com\t.evil.example/x.pem"},
            "not a plain URL",
        ),
        ({"Signature": None}, "not signed"),
        ({"Timestamp": None}, "no Timestamp"),
    ],
)
def test_bad_signatures_are_refused(
    key: rsa.RSAPrivateKey, certificate: bytes, changes: dict[str, Any], reason: str
) -> None:
    envelope = {k: v for k, v in signed(key, **changes).items() if v is not None}
    with pytest.raises(UntrustedSignature, match=reason):
        SignatureVerifier(fetch=Fetcher(certificate)).verify(envelope)


def test_certificate_that_cannot_be_loaded(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(UntrustedSignature, match="cannot load"):
        SignatureVerifier(fetch=Fetcher(b"not a certificate")).verify(signed(key))

    def unreachable(url: str) -> bytes:
        raise OSError("connection refused")

    # Not a verdict on the message (tests/feedback/test_certificate_host.py).
    with pytest.raises(CertificateUnavailable, match="connection refused"):
        SignatureVerifier(fetch=unreachable).verify(signed(key))


def test_worker_applies_only_verified_envelopes(
    key: rsa.RSAPrivateKey, certificate: bytes, store: Store
) -> None:
    queue = ListQueue()
    verifier = SignatureVerifier(fetch=Fetcher(certificate))
    worker = Worker(queue, store, verifier=verifier)
    forged = signed(key, Message=json.dumps(sample("S4")))
    worker.process(
        [
            QueueMessage("good", "h1", json.dumps(signed(key)), 1),
            QueueMessage("forged", "h2", json.dumps(forged), 1),
            QueueMessage("raw", "h3", json.dumps(sample("S4")), 1),
        ]
    )
    assert queue.deleted == ["good"]
    assert worker.stats.rejected == 2
    assert [s.address for s in store.suppressions()] == ["gone@example.net"]


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
        "https://SNS.EU-WEST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ],
)
def test_certificate_urls_from_sns_are_accepted(url: str) -> None:
    check_certificate_url(url)


def test_unpaired_surrogate_cannot_be_signed(key: rsa.RSAPrivateKey) -> None:
    envelope = {**signed(key), "Message": "\ud800"}
    with pytest.raises(UntrustedSignature, match="not valid Unicode"):
        canonical_string(envelope)
