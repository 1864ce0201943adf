"""courrier's settings: one object, one documented order of precedence.

Each setting is looked up, first match wins:

1. the keyword argument given to :meth:`Settings.load` (or a CLI option);
2. the environment variable ``COURRIER_<NAME>`` (for example ``COURRIER_DATABASE_URL``);
3. the ``[courrier]`` table of ``courrier.toml`` in the working directory, which may be
   absent, or of the file named by ``--config`` or ``COURRIER_CONFIG``, which must exist: a
   misspelled name would otherwise run on the defaults, with a fresh store and an empty
   suppression list;
4. the default below.

AWS credentials, region and endpoint are not courrier settings: boto3's own chain applies
(``AWS_PROFILE``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``, ...), so pointing
courrier at ``courrier sandbox`` needs nothing but ``AWS_ENDPOINT_URL``. ``profile`` and
``region`` below only override that chain when set.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from courrier.errors import ConfigurationError

__all__ = ["Settings"]

CONFIG_FILE = "courrier.toml"


@dataclass(frozen=True)
class Settings:
    """Every setting of courrier, each from the first of: an argument, its ``COURRIER_<NAME>``
    variable, the ``[courrier]`` table of ``courrier.toml`` (or of the file ``--config`` or
    ``COURRIER_CONFIG`` names), its default. :meth:`load` reads them and checks each."""

    #: SQLAlchemy URL of the store; SQLite in the working directory by default.
    database_url: str = "sqlite:///courrier.db"
    #: AWS profile and region; None leaves boto3's own chain in charge.
    profile: str | None = None
    region: str | None = None
    #: Configuration set applied to every send unless the message names one.
    configuration_set: str | None = None
    #: Default sender for ``courrier send`` when ``--from`` is not given.
    sender: str | None = None
    #: The feedback pipeline written by ``courrier setup``.
    identity: str | None = None
    route: str | None = None  # "events" | "notifications"
    prefix: str | None = None
    topic_arn: str | None = None
    queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    #: How many times a throttled or unreachable send is tried in all.
    send_attempts: int = 6
    #: Backoff between those tries: first delay and cap, in seconds (full jitter).
    backoff_base: float = 0.2
    backoff_cap: float = 20.0
    #: Seconds to wait for SES's answer before the outcome is recorded as unknown.
    read_timeout: float = 30.0
    #: Overrides the account's max send rate (per second) read from SES; None reads it.
    max_send_rate: float | None = None
    #: Receives the feedback worker keeps in flight at once (``courrier worker --concurrency``);
    #: their batches are applied by one thread, several per transaction.
    worker_concurrency: int = 8
    #: Who shares the send rate: "store" (every process and machine using this store, the
    #: default) or "process" (each process paces itself: only for a single sending process).
    send_rate_scope: str = "store"
    #: Seconds of the max send rate sent at once after an idle spell ("store" scope). SES admits
    #: short bursts without saying how long (docs/ses.md#sending-at-volume); lower it if SES
    #: throttles.
    send_burst: float = 1.0
    #: Seconds between two readings of the max send rate from SES ("store" scope).
    send_rate_recheck: float = 300.0

    # Reputation (courrier stats, the guard, the dashboard); see courrier.reputation.
    #: The representative window: this many of the latest recipients SES counts, and never
    #: sends older than ``reputation_window_days``.
    reputation_window: int = 10_000
    reputation_window_days: int = 30
    #: Comma-separated domains that send SES no complaint feedback (docs/ses.md#reputation: Gmail);
    #: their recipients are left out of the complaint rate.
    reputation_no_complaint_feedback_domains: str = "gmail.com,googlemail.com"
    #: Count mailbox-simulator traffic in the rates. SES does not (docs/ses.md#reputation); this
    #: exists to rehearse the guard with the simulator, never for production.
    reputation_count_simulator: bool = False
    #: Guard lines, as fractions (0.04 is 4%), kept below AWS's review lines of 5% and 0.1%.
    guard_bounce_warning: float = 0.025
    guard_bounce_trip: float = 0.04
    guard_complaint_warning: float = 0.0005
    guard_complaint_trip: float = 0.0008
    #: The guard judges a rate only once its window counts at least this many recipients.
    guard_min_volume: int = 500
    #: Refuse transactional sends too when the guard is tripped (bulk sends always are).
    guard_blocks_transactional: bool = False
    #: Token that ``courrier dashboard`` requires; mandatory on a non-loopback address.
    dashboard_token: str | None = None

    # The outbox (``courrier outbox run``); see courrier.sending.outbox.
    #: Seconds after which a row still ``sending`` is taken to have lost its runner and
    #: becomes ``unknown`` (runners on the same machine that died are noticed at once).
    outbox_lease: float = 600.0
    #: First delay, in seconds, before a throttled or unreachable row is tried again;
    #: doubled for each further try, up to 300.
    outbox_retry_delay: float = 5.0
    #: Tries in all before a row that keeps being throttled or unreachable is ``failed``.
    outbox_max_attempts: int = 10

    #: DNS servers ``courrier doctor`` asks, as ``ADDRESS[:PORT]`` separated by commas (for
    #: example ``127.0.0.1:5353``); None asks the system's resolvers.
    dns_nameservers: str | None = None

    # One-click unsubscribe (RFC 8058) on bulk mail; see courrier.unsubscribe.
    #: Public URL of courrier's unsubscribe endpoint (``courrier dashboard`` serves it at
    #: ``/unsubscribe``); each link is this URL, ``/`` and a signed token. HTTPS, except on
    #: loopback hosts.
    unsubscribe_url: str | None = None
    #: Key that signs the links (HMAC-SHA256): at least 16 characters, kept secret.
    unsubscribe_secret: str | None = None
    #: Also offer this ``mailto:`` address in ``List-Unsubscribe`` (optional).
    unsubscribe_mailto: str | None = None
    #: The lists are managed by another system, which adds its own ``List-Unsubscribe``:
    #: bulk sends without courrier's links are then allowed.
    unsubscribe_managed_elsewhere: bool = False

    # SES tenants (``courrier tenant create``); see courrier.provisioning.tenants.
    #: The suppression list a new tenant's sends consult: ``tenant`` (its own, so one
    #: tenant's bounces and complaints do not stop the others' mail) or ``account``; unset
    #: leaves SES's default. Applied with PutTenantSuppressionAttributes.
    tenant_suppression_scope: str | None = None
    #: The reasons that add an address to that list, separated by commas: ``bounce``,
    #: ``complaint`` (unset: both).
    tenant_suppressed_reasons: str | None = None

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        *,
        config_may_be_absent: bool = False,
        **overrides: Any,
    ) -> Settings:
        """Settings from arguments, environment, ``courrier.toml`` and defaults, in that order.

        A settings file named by ``config_file`` or ``COURRIER_CONFIG`` that does not exist is
        a :class:`~courrier.errors.ConfigurationError`, unless ``config_may_be_absent`` (a
        command about to write it, ``courrier setup``).
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(unknown)}")
        file_values = _read_file(config_file, config_may_be_absent)
        values: dict[str, Any] = {}
        for name, spec in known.items():
            if overrides.get(name) is not None:
                values[name] = overrides[name]
            elif f"COURRIER_{name.upper()}" in os.environ:
                values[name] = _coerce(
                    name,
                    spec.type,
                    os.environ[f"COURRIER_{name.upper()}"],
                    f"environment variable COURRIER_{name.upper()}",
                )
            elif name in file_values:
                values[name] = _coerce(
                    name, spec.type, file_values[name], f"'{name}' in {CONFIG_FILE}"
                )
        return cls(**values)


def config_path(config_file: str | os.PathLike[str] | None = None) -> Path:
    """The settings file: ``config_file``, else ``COURRIER_CONFIG``, else ``courrier.toml``."""
    return Path(config_file or os.environ.get("COURRIER_CONFIG") or CONFIG_FILE)


def _named_by(config_file: str | os.PathLike[str] | None) -> str | None:
    """How the settings file was named, when it was named at all."""
    if config_file:
        return ""
    if os.environ.get("COURRIER_CONFIG"):
        return " (named by COURRIER_CONFIG)"
    return None


def checked(name: str, value: Any, source: str) -> Any:
    """``value`` for the setting ``name``, checked as a file's values are (numbers parsed,
    text required to be text); ``source`` names where it came from in the error."""
    declared = {f.name: f.type for f in fields(Settings)}[name]
    return _coerce(name, declared, value, source)


def _read_file(
    config_file: str | os.PathLike[str] | None, may_be_absent: bool = False
) -> dict[str, Any]:
    path = config_path(config_file)
    if not path.exists():
        named = _named_by(config_file)
        if named is not None and not may_be_absent:
            raise ConfigurationError(f"the settings file {path} does not exist{named}")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{path} is not valid TOML: {err}") from err
    table = data.get("courrier", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [courrier] must be a table")
    unknown = sorted(set(table) - {f.name for f in fields(Settings)})
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return table


def _coerce(name: str, declared: Any, value: Any, source: str) -> Any:
    kind = str(declared)
    if kind == "bool":
        return _boolean(name, value, source)
    try:
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"{source}: {name} must be a number, not {value!r}") from err
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{source}: {name} must be a string, not {value!r}")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _boolean(name: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigurationError(f"{source}: {name} must be true or false, not {value!r}")
