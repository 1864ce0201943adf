"""SNS signature verification with a real RSA key and certificate made for the test."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from courrier.aws.sqs import QueueMessage
from courrier.feedback.signature import SignatureVerifier, UntrustedSignature, canonical_string
from courrier.feedback.worker import Worker
from courrier.store import Store
from tests.feedback.test_decode import sample

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc123.pem"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


def signed(
    key: rsa.RSAPrivateKey, *, version: str = "2", subject: str | None = None, **changes: Any
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "5f3c9a1e-2b7d-5c41-9e08-7a6b5c4d3e2f",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-feedback",
        "Message": json.dumps(sample("S1")) + "\n",
        "Timestamp": "2024-05-15T02:40:11.412Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    if subject is not None:
        envelope["Subject"] = subject
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical_string(envelope), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode()
    envelope.update(changes)
    return envelope


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

    with pytest.raises(UntrustedSignature, match="connection refused"):
        SignatureVerifier(fetch=unreachable).verify(signed(key))


class ListQueue:
    """The two queue calls the worker makes, over a list (no SQS needed for this test)."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        self.deleted.extend(m.message_id for m in messages)
        return []


def test_worker_applies_only_verified_envelopes(
    key: rsa.RSAPrivateKey, certificate: bytes, store: Store
) -> None:
    queue = ListQueue()
    verifier = SignatureVerifier(fetch=Fetcher(certificate))
    worker = Worker(queue, store, verifier=verifier)  # type: ignore[arg-type]  # a stand-in
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
