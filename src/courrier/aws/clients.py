"""boto3 clients built from the standard AWS chain, with courrier's timeouts and retries."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, NoRegionError

from courrier.aws.errors import region_advice
from courrier.errors import ConfigurationError


@dataclass(frozen=True)
class AwsConfig:
    """What courrier adds to boto3's chain: optional profile/region, timeouts, pool size, and
    an endpoint with its own credentials (an AWS-compatible service such as the sandbox),
    so that a caller need not change the process's environment for one run."""

    profile: str | None = None
    region: str | None = None
    read_timeout: float = 30.0
    connect_timeout: float = 5.0
    #: HTTP connections kept per client: one per thread that calls it at the same time.
    max_connections: int = 10
    #: Every service at this URL instead of AWS (as ``AWS_ENDPOINT_URL`` does).
    endpoint_url: str | None = None
    #: Credentials for this configuration only; None: boto3's chain finds them.
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)


def client(service: str, config: AwsConfig | None = None, *, single_attempt: bool = False) -> Any:
    """A boto3 client; ``AWS_ENDPOINT_URL`` and profiles work as they do for boto3.

    Reads, SQS and provisioning calls use botocore's standard retry mode. Sends ask for
    ``single_attempt``: the Mailer owns their retries and the ``unknown`` outcome.
    """
    config = config or AwsConfig()
    try:
        session = boto3.Session(
            profile_name=config.profile,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
        )
        if session.region_name is not None and not session.region_name.strip():
            raise ConfigurationError(
                f"the AWS region for {service} is empty{_region_origin(config)}: {region_advice()}"
            )
        make: Any = session.client  # typed per service by the stubs; courrier picks at run time
        return make(
            service,
            endpoint_url=config.endpoint_url,
            config=Config(
                # Standard mode retries throttling and transient errors (3 attempts in all).
                # One attempt for sends: a send whose answer was lost must not be sent
                # again (see :class:`courrier.errors.OutcomeUnknown`).
                retries=({"total_max_attempts": 1} if single_attempt else {"mode": "standard"}),
                read_timeout=config.read_timeout,
                connect_timeout=config.connect_timeout,
                max_pool_connections=config.max_connections,
            ),
        )
    except ValueError as err:
        # botocore checks the endpoint's URL with a bare ValueError ("Invalid endpoint: ..."),
        # raised when the client is made: a URL without its scheme, or a malformed host.
        if not str(err).startswith("Invalid endpoint"):
            raise
        raise ConfigurationError(
            f"invalid AWS endpoint for {service}{_endpoint_origin(service, config)}: {err}; "
            "give a full URL with its scheme, such as http://127.0.0.1:4566"
        ) from err
    except NoRegionError as err:
        raise ConfigurationError(f"no AWS region for {service}: {region_advice()}") from err
    except BotoCoreError as err:
        raise ConfigurationError(f"cannot create an AWS {service} client: {err}") from err


def endpoint_of(service: str, config: AwsConfig | None = None) -> str | None:
    """The URL ``service``'s calls go to instead of AWS, if one is set: the configuration's,
    else ``AWS_ENDPOINT_URL_<SERVICE>``, else ``AWS_ENDPOINT_URL``, as boto3 reads them
    (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html); None for
    AWS itself. An endpoint named only in the AWS profile is not seen."""
    if config is not None and config.endpoint_url:
        return config.endpoint_url
    for variable in (f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ENDPOINT_URL"):
        if os.environ.get(variable):
            return os.environ[variable]
    return None


def _region_origin(config: AwsConfig) -> str:
    """Where an empty region came from, for the error."""
    if config.region is not None:
        return " (courrier's region setting)"
    if os.environ.get("AWS_DEFAULT_REGION") == "":
        return " (AWS_DEFAULT_REGION is set but empty)"
    return " (from the AWS profile)"


def _endpoint_origin(service: str, config: AwsConfig) -> str:
    """Where a malformed endpoint came from, for the error: boto3 reads
    ``AWS_ENDPOINT_URL_<SERVICE>`` before ``AWS_ENDPOINT_URL``
    (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html)."""
    if config.endpoint_url is not None:
        return ""
    for variable in (f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ENDPOINT_URL"):
        if os.environ.get(variable):
            return f" (from {variable})"
    return " (from the AWS profile or the region)"
