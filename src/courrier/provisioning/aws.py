"""The AWS calls provisioning makes, each translated to courrier's errors."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from courrier.aws.clients import AwsConfig, client
from courrier.aws.errors import translate
from courrier.errors import AwsError

# The codes AWS answers with when the thing asked about does not exist.
TOPIC_MISSING = ("NotFound",)
QUEUE_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
SES_MISSING = ("NotFoundException",)
SES_EXISTS = ("AlreadyExistsException",)


@dataclass
class Aws:
    """boto3 clients for SES v1/v2, SNS, SQS and STS, made on first use."""

    config: AwsConfig = field(default_factory=AwsConfig)
    _clients: dict[str, Any] = field(default_factory=dict)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.config)
        return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self._client(service), _snake(operation))
        with translate(operation):
            result: dict[str, Any] = method(**params)
        return result

    def maybe(
        self, service: str, operation: str, *missing: str, **params: Any
    ) -> dict[str, Any] | None:
        """Like :meth:`call`, but None when AWS answers with one of the ``missing`` codes."""
        try:
            return self.call(service, operation, **params)
        except AwsError as err:
            if err.code in missing:
                return None
            raise

    @property
    def region(self) -> str:
        # STS answers from a global endpoint without a region; SNS needs one, as SES does.
        return str(self._client("sns").meta.region_name)

    @property
    def on_aws(self) -> bool:
        """Whether SES is AWS's own endpoint, not a stand-in (``AWS_ENDPOINT_URL``)."""
        host = urllib.parse.urlsplit(str(self._client("sesv2").meta.endpoint_url)).hostname
        return bool(host) and str(host).endswith((".amazonaws.com", ".amazonaws.com.cn"))

    def account(self) -> str:
        """The account's id; a missing region is reported first, before any call is made."""
        self._client("sns")  # STS alone would fall back to its global endpoint
        return str(self.call("sts", "GetCallerIdentity")["Account"])


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
