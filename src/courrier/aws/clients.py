"""boto3 clients built from the standard AWS chain, with courrier's timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from courrier.errors import ConfigurationError


@dataclass(frozen=True)
class AwsConfig:
    """What courrier adds to boto3's chain: optional profile/region and the read timeout."""

    profile: str | None = None
    region: str | None = None
    read_timeout: float = 30.0
    connect_timeout: float = 5.0


def client(service: str, config: AwsConfig | None = None) -> Any:
    """A boto3 client; ``AWS_ENDPOINT_URL`` and profiles work as they do for boto3.

    botocore's own retries are off: courrier decides what is retried, because a send whose
    answer was lost must not be sent again (see :class:`courrier.errors.OutcomeUnknown`).
    """
    config = config or AwsConfig()
    try:
        session = boto3.Session(profile_name=config.profile, region_name=config.region)
        make: Any = session.client  # typed per service by the stubs; courrier picks at run time
        return make(
            service,
            config=Config(
                retries={"total_max_attempts": 1},
                read_timeout=config.read_timeout,
                connect_timeout=config.connect_timeout,
            ),
        )
    except BotoCoreError as err:
        raise ConfigurationError(f"cannot create an AWS {service} client: {err}") from err
