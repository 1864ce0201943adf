"""courrier's settings: one object, one documented order of precedence.

Each setting is looked up, first match wins:

1. the keyword argument given to :meth:`Settings.load` (or a CLI option);
2. the environment variable ``COURRIER_<NAME>`` (for example ``COURRIER_DATABASE_URL``);
3. the ``[courrier]`` table of ``courrier.toml`` in the working directory, which may be
   absent, or of the file named by ``--config`` or ``COURRIER_CONFIG``, which must exist: a
   misspelled name would otherwise run on the defaults, with a fresh store and an empty
   suppression list;
4. the default below.

In a file, a setting may also sit in a sub-table named by its first word: ``[courrier.guard]``
with ``bounce_trip = 0.04`` is ``guard_bounce_trip``. Related settings are read together as
small value objects that check themselves (:attr:`Settings.send_rate`, :attr:`Settings.retry`,
:attr:`Settings.guard`, :attr:`Settings.reputation`, :attr:`Settings.outbox`,
:attr:`Settings.worker`), so a setting out of its range is a
:class:`~courrier.errors.ConfigurationError` when the settings are loaded, not when a send or a
worker first reads it.

AWS credentials, region and endpoint are not courrier settings: boto3's own chain applies
(``AWS_PROFILE``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``, ...), so pointing
courrier at ``courrier sandbox`` needs nothing but ``AWS_ENDPOINT_URL``. ``profile`` and
``region`` below only override that chain when set.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import ipaddress
import logging
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache, partial
from pathlib import Path
from typing import Any

from courrier.errors import ConfigurationError

log = logging.getLogger(__name__)

__all__ = [
    "GuardSettings",
    "OutboxSettings",
    "ReputationSettings",
    "RetrySettings",
    "Route",
    "SendRateScope",
    "SendRateSettings",
    "Settings",
    "WorkerSettings",
]

CONFIG_FILE = "courrier.toml"


class Route(StrEnum):
    """How SES feedback reaches the topic."""

    #: Configuration-set event publishing: every event type (docs/ses.md#event-publishing).
    EVENTS = "events"
    #: Identity notifications: Bounce, Complaint and Delivery (docs/ses.md#notifications).
    NOTIFICATIONS = "notifications"

    @classmethod
    def parse(cls, value: str) -> Route:
        """``value`` as a route; a :class:`~courrier.errors.ConfigurationError` otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ConfigurationError(
                f"route must be 'events' or 'notifications', not {value!r}"
            ) from None


class SendRateScope(StrEnum):
    """Who shares the account's max send rate."""

    #: Every process and machine using the same store (a token bucket in the store).
    STORE = "store"
    #: Each process paces itself: only right for a single sending process.
    PROCESS = "process"


_HOUR = 3600.0
_DAY = 24 * _HOUR
#: Ten years in days: longer than any window or lifetime worth setting, and far enough from
#: datetime's year 9999 that "now" plus or minus it is always a date.
_DECADE_DAYS = 3650
#: The largest value of each numeric setting (the guard's fractions are at most 1). No real use
#: comes near them; they exist so that a huge, infinite or NaN value (``inf`` from a typo,
#: ``${X}`` expanded to ``1e400``) is refused when the settings load instead of overflowing a
#: datetime, a timeout or the database later.
LIMITS: dict[str, float] = {
    "send_attempts": 100,
    "backoff_base": _HOUR,
    "backoff_cap": _HOUR,
    "read_timeout": _HOUR,
    "max_send_rate": 1_000_000,
    "send_burst": _HOUR,
    "send_rate_recheck": _DAY,
    "worker_concurrency": 1000,
    "reputation_window": 100_000_000,
    "reputation_window_days": _DECADE_DAYS,
    "guard_min_volume": 100_000_000,
    "outbox_lease": _DAY,
    "outbox_retry_delay": _DAY,
    "outbox_max_attempts": 1000,
    "outbox_tenant_hold": _DAY,
    "soft_bounce_limit": 10_000,
    "soft_bounce_window_days": _DECADE_DAYS,
    "suppression_ttl_days": _DECADE_DAYS,
}


def _within_limit(name: str, value: float | None) -> None:
    """A finite ``value`` no larger than ``LIMITS[name]``: the check every numeric setting
    shares, whether it comes from a file, the environment, an argument or a group built
    directly."""
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, not {value!r}")
    if value > LIMITS[name]:
        raise ConfigurationError(f"{name} must be at most {LIMITS[name]:,.0f}, not {value!r}")
    # No numeric setting takes a negative value; each group says which small ones it refuses,
    # this only keeps huge ones out of the datetimes built before the group checks them.
    if value < -LIMITS[name]:
        raise ConfigurationError(f"{name} must not be negative, not {value!r}")


def _positive(name: str, value: float | None) -> None:
    _within_limit(name, value)
    if value is not None and not value > 0:
        raise ConfigurationError(f"{name} must be greater than 0, not {value!r}")


def _not_negative(name: str, value: float) -> None:
    _within_limit(name, value)
    if not value >= 0:
        raise ConfigurationError(f"{name} must not be negative, not {value!r}")


def _at_least_one(name: str, value: int) -> None:
    _within_limit(name, value)
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, not {value}")


def _fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ConfigurationError(f"{name} must be a fraction in (0, 1], not {value!r}")


def _days(name: str, value: dt.timedelta | None) -> None:
    if value is not None:
        _positive(name, value / dt.timedelta(days=1))


@dataclass(frozen=True)
class SendRateSettings:
    """How fast sends go out and who shares the account's rate (``max_send_rate``,
    ``send_rate_scope``, ``send_burst``, ``send_rate_recheck``)."""

    max_rate: float | None = None
    scope: SendRateScope = SendRateScope.STORE
    burst: float = 1.0
    recheck: float = 300.0

    def __post_init__(self) -> None:
        _within_limit("max_send_rate", self.max_rate)
        if self.max_rate is not None and not self.max_rate >= 0:
            raise ConfigurationError(
                f"max_send_rate must be positive (or 0: SES's), not {self.max_rate}"
            )
        _positive("send_burst", self.burst)
        _not_negative("send_rate_recheck", self.recheck)


@dataclass(frozen=True)
class RetrySettings:
    """How a throttled or unreachable send is tried again (``send_attempts``, ``backoff_base``,
    ``backoff_cap``) and how long SES's answer is awaited (``read_timeout``)."""

    attempts: int = 6
    backoff_base: float = 0.2
    backoff_cap: float = 20.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        _at_least_one("send_attempts", self.attempts)
        _not_negative("backoff_base", self.backoff_base)
        _within_limit("backoff_cap", self.backoff_cap)
        _positive("read_timeout", self.read_timeout)
        if self.backoff_cap < self.backoff_base:
            raise ConfigurationError(
                f"backoff_cap ({self.backoff_cap}) must not be below backoff_base "
                f"({self.backoff_base})"
            )


@dataclass(frozen=True)
class GuardSettings:
    """The guard's lines, as fractions (``guard_*``)."""

    bounce_warning: float = 0.025
    bounce_trip: float = 0.04
    complaint_warning: float = 0.0005
    complaint_trip: float = 0.0008
    min_volume: int = 500
    blocks_transactional: bool = False

    def __post_init__(self) -> None:
        for kind in ("bounce", "complaint"):
            warning = getattr(self, f"{kind}_warning")
            trip = getattr(self, f"{kind}_trip")
            _fraction(f"guard_{kind}_warning", warning)
            _fraction(f"guard_{kind}_trip", trip)
            if warning > trip:
                raise ConfigurationError(
                    f"guard_{kind}_warning must not be above guard_{kind}_trip ({warning} > {trip})"
                )
        _at_least_one("guard_min_volume", self.min_volume)


@dataclass(frozen=True)
class ReputationSettings:
    """Which recipients the rates count, as SES does (``reputation_*``)."""

    window: int = 10_000
    window_days: int = 30
    no_complaint_feedback_domains: tuple[str, ...] = ("gmail.com", "googlemail.com")
    count_simulator: bool = False

    def __post_init__(self) -> None:
        _at_least_one("reputation_window", self.window)
        _at_least_one("reputation_window_days", self.window_days)


@dataclass(frozen=True)
class OutboxSettings:
    """How ``courrier outbox run`` leases and retries rows (``outbox_*``)."""

    lease: float = 600.0
    retry_delay: float = 5.0
    max_attempts: int = 10
    tenant_hold: float = 900.0

    def __post_init__(self) -> None:
        _positive("outbox_lease", self.lease)
        _positive("outbox_tenant_hold", self.tenant_hold)
        _not_negative("outbox_retry_delay", self.retry_delay)
        _at_least_one("outbox_max_attempts", self.max_attempts)


@dataclass(frozen=True)
class WorkerSettings:
    """The feedback worker: receives in flight and the rules it applies (``worker_concurrency``,
    ``soft_bounce_limit``, ``soft_bounce_window_days``, ``suppression_ttl_days``)."""

    concurrency: int = 8
    soft_bounce_limit: int = 3
    soft_bounce_window: dt.timedelta = dt.timedelta(days=7)
    suppression_ttl: dt.timedelta | None = None

    def __post_init__(self) -> None:
        _at_least_one("worker_concurrency", self.concurrency)
        _at_least_one("soft_bounce_limit", self.soft_bounce_limit)
        _days("soft_bounce_window_days", self.soft_bounce_window)
        _days("suppression_ttl_days", self.suppression_ttl)


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
    #: How feedback reaches the topic: "events" (configuration-set event publishing) or
    #: "notifications" (identity notifications).
    route: Route | None = None
    prefix: str | None = None
    topic_arn: str | None = None
    queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    #: How many times a throttled or unreachable send is tried in all.
    send_attempts: int = RetrySettings.attempts
    #: Backoff between those tries: first delay and cap, in seconds (full jitter).
    backoff_base: float = RetrySettings.backoff_base
    backoff_cap: float = RetrySettings.backoff_cap
    #: Seconds to wait for SES's answer before the outcome is recorded as unknown.
    read_timeout: float = RetrySettings.read_timeout
    #: Overrides the account's max send rate (per second) read from SES; None reads it.
    max_send_rate: float | None = SendRateSettings.max_rate
    #: Check the SNS signature of every message ``courrier worker`` and ``courrier receive``
    #: apply (``--no-verify-signatures`` turns it off for one run). ``courrier setup`` writes
    #: false when it provisions a stand-in for AWS (``AWS_ENDPOINT_URL``, the sandbox), whose
    #: signing certificates cannot be downloaded from AWS.
    verify_signatures: bool = True
    #: Receives the feedback worker keeps in flight at once (``courrier worker --concurrency``);
    #: their batches are applied by one thread, several per transaction.
    worker_concurrency: int = WorkerSettings.concurrency
    #: Who shares the send rate: "store" (every process and machine using this store, the
    #: default) or "process" (each process paces itself: only for a single sending process).
    send_rate_scope: SendRateScope = SendRateSettings.scope
    #: Seconds of the max send rate sent at once after an idle spell ("store" scope). SES admits
    #: short bursts without saying how long (docs/ses.md#sending-at-volume); lower it if SES
    #: throttles.
    send_burst: float = SendRateSettings.burst
    #: Seconds between two readings of the max send rate from SES ("store" scope).
    send_rate_recheck: float = SendRateSettings.recheck

    # Reputation (courrier stats, the guard, the dashboard); see courrier.reputation.
    #: The representative window: this many of the latest recipients SES counts, and never
    #: sends older than ``reputation_window_days``.
    reputation_window: int = ReputationSettings.window
    reputation_window_days: int = ReputationSettings.window_days
    #: Domains that send SES no complaint feedback (docs/ses.md#reputation: Gmail); their
    #: recipients are left out of the complaint rate. A list, or text separated by commas.
    reputation_no_complaint_feedback_domains: tuple[str, ...] = (
        ReputationSettings.no_complaint_feedback_domains
    )
    #: Count mailbox-simulator traffic in the rates. SES does not (docs/ses.md#reputation); this
    #: exists to rehearse the guard with the simulator, never for production.
    reputation_count_simulator: bool = ReputationSettings.count_simulator
    #: Guard lines, as fractions (0.04 is 4%), kept below AWS's review lines of 5% and 0.1%.
    guard_bounce_warning: float = GuardSettings.bounce_warning
    guard_bounce_trip: float = GuardSettings.bounce_trip
    guard_complaint_warning: float = GuardSettings.complaint_warning
    guard_complaint_trip: float = GuardSettings.complaint_trip
    #: The guard judges a rate only once its window counts at least this many recipients.
    guard_min_volume: int = GuardSettings.min_volume
    #: Refuse transactional sends too when the guard is tripped (bulk sends always are).
    guard_blocks_transactional: bool = GuardSettings.blocks_transactional
    #: Token that ``courrier dashboard`` requires; mandatory on a non-loopback address.
    dashboard_token: str | None = None

    # The outbox (``courrier outbox run``); see courrier.sending.outbox.
    #: Seconds after which a row still ``sending`` is taken to have lost its runner and
    #: becomes ``unknown`` (runners on the same machine that died are noticed at once).
    outbox_lease: float = OutboxSettings.lease
    #: First delay, in seconds, before a throttled or unreachable row is tried again;
    #: doubled for each further try, up to 300.
    outbox_retry_delay: float = OutboxSettings.retry_delay
    #: Tries in all before a row that keeps being throttled or unreachable is ``failed``.
    outbox_max_attempts: int = OutboxSettings.max_attempts
    #: Seconds the queued rows of a tenant SES paused wait, in every runner, before one of
    #: them asks SES again (the others follow once it is not refused as paused).
    outbox_tenant_hold: float = OutboxSettings.tenant_hold

    # What the feedback worker does with bounces; see courrier.feedback.rules.
    #: Transient bounces of one address within ``soft_bounce_window_days`` that suppress it.
    soft_bounce_limit: int = WorkerSettings.soft_bounce_limit
    soft_bounce_window_days: float = WorkerSettings.soft_bounce_window / dt.timedelta(days=1)
    #: Days a suppression added from feedback lasts; none keeps it until removed.
    suppression_ttl_days: float | None = None

    #: DNS servers ``courrier doctor`` asks, each ``ADDRESS[:PORT]`` (for example
    #: ``127.0.0.1:5353``): a list, or text separated by commas; none asks the system's
    #: resolvers.
    dns_nameservers: tuple[str, ...] = ()

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
    #: SES's own subscription management instead of courrier's endpoint: the SES contact
    #: list bulk sends name (``ListManagementOptions``); SES then adds the unsubscribe headers,
    #: hosts the page and publishes Subscription events, which the worker applies. See
    #: https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html.
    unsubscribe_contact_list: str | None = None
    #: The topic of that contact list a bulk send names when its message names none (None:
    #: no topic, so a one-click unsubscribe leaves every topic of the list).
    unsubscribe_topic: str | None = None

    # SES tenants (``courrier tenant create``); see courrier.provisioning.tenants.
    #: The suppression list a new tenant's sends consult: ``tenant`` (its own, so one
    #: tenant's bounces and complaints do not stop the others' mail) or ``account``; unset
    #: leaves SES's default. Applied with PutTenantSuppressionAttributes.
    tenant_suppression_scope: str | None = None
    #: The reasons that add an address to that list, separated by commas: ``bounce``,
    #: ``complaint`` (unset: both).
    tenant_suppressed_reasons: str | None = None

    def __post_init__(self) -> None:
        # Built directly (``Settings(route="events")``), values are checked and normalised as
        # those of a file are; then each group checks its own range, so that a bad value is an
        # error of the settings, naming it, rather than of the first send that reads it.
        for spec in fields(self):
            value = _coerce(spec.name, _declared()[spec.name], getattr(self, spec.name), "settings")
            object.__setattr__(self, spec.name, value)
        for group in _GROUPS:
            getattr(self, group)

    @property
    def send_rate(self) -> SendRateSettings:
        """``max_send_rate``, ``send_rate_scope``, ``send_burst`` and ``send_rate_recheck``."""
        return SendRateSettings(
            self.max_send_rate, self.send_rate_scope, self.send_burst, self.send_rate_recheck
        )

    @property
    def retry(self) -> RetrySettings:
        """``send_attempts``, ``backoff_base``, ``backoff_cap`` and ``read_timeout``."""
        return RetrySettings(
            self.send_attempts, self.backoff_base, self.backoff_cap, self.read_timeout
        )

    @property
    def guard(self) -> GuardSettings:
        """The ``guard_*`` settings."""
        return GuardSettings(
            self.guard_bounce_warning,
            self.guard_bounce_trip,
            self.guard_complaint_warning,
            self.guard_complaint_trip,
            self.guard_min_volume,
            self.guard_blocks_transactional,
        )

    @property
    def reputation(self) -> ReputationSettings:
        """The ``reputation_*`` settings."""
        return ReputationSettings(
            self.reputation_window,
            self.reputation_window_days,
            self.reputation_no_complaint_feedback_domains,
            self.reputation_count_simulator,
        )

    @property
    def outbox(self) -> OutboxSettings:
        """The ``outbox_*`` settings."""
        return OutboxSettings(
            self.outbox_lease,
            self.outbox_retry_delay,
            self.outbox_max_attempts,
            self.outbox_tenant_hold,
        )

    @property
    def worker(self) -> WorkerSettings:
        """``worker_concurrency`` and the bounce rules the worker applies."""
        ttl = self.suppression_ttl_days
        return WorkerSettings(
            self.worker_concurrency,
            self.soft_bounce_limit,
            dt.timedelta(days=self.soft_bounce_window_days),
            None if ttl is None else dt.timedelta(days=ttl),
        )

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
        _warn_unknown_variables(known)
        values: dict[str, Any] = {}
        for name in known:
            if overrides.get(name) is not None:
                values[name] = checked(name, overrides[name], f"argument {name}")
            elif f"COURRIER_{name.upper()}" in os.environ:
                values[name] = checked(
                    name,
                    os.environ[f"COURRIER_{name.upper()}"],
                    f"environment variable COURRIER_{name.upper()}",
                )
            elif name in file_values:
                values[name] = checked(name, file_values[name], f"'{name}' in {CONFIG_FILE}")
        return cls(**values)


_GROUPS = ("send_rate", "retry", "guard", "reputation", "outbox", "worker")


#: ``COURRIER_*`` variables that are not settings: the settings file's name, and the switches
#: of the test suite and the benchmarks (docs/development.md, bench/).
_NOT_SETTINGS = frozenset(
    {
        "COURRIER_CONFIG",
        "COURRIER_DJANGO_TEST_DATABASE",
        "COURRIER_OUTBOX_KILL_COUNT",
        "COURRIER_OUTBOX_KILL_ROUNDS",
        "COURRIER_SCREENSHOTS",
    }
)
_NOT_SETTING_PREFIXES = ("COURRIER_TEST_", "COURRIER_REQUIRE_")
#: Variables already warned about: settings are loaded many times in one process (Django).
_warned: set[str] = set()


def _warn_unknown_variables(known: Iterable[str]) -> None:
    """A warning for each ``COURRIER_*`` variable that names no setting. Only a warning, unlike
    an unknown key of the file: the environment is shared with other programs and with
    courrier's other versions, which may know settings this one does not."""
    variables = {f"COURRIER_{name.upper()}" for name in known}
    for name in sorted(os.environ):
        if (
            not name.startswith("COURRIER_")
            or name in variables
            or name in _NOT_SETTINGS
            or name.startswith(_NOT_SETTING_PREFIXES)
            or name in _warned
        ):
            continue
        _warned.add(name)
        closest = difflib.get_close_matches(name, sorted(variables), n=1)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        log.warning("the environment variable %s names no courrier setting%s", name, hint)


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
    return _coerce(name, _declared()[name], value, source)


@cache
def _declared() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


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
    flat = _flatten(path, table)
    unknown = sorted(set(flat) - {f.name for f in fields(Settings)})
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return flat


def _flatten(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    """``[courrier.guard] bounce_trip`` as ``guard_bounce_trip``; a name given both ways is an
    error rather than a silent choice."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        items = (
            {f"{key}_{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
        )
        for name, item in items.items():
            if name in flat:
                raise ConfigurationError(f"{path}: {name} is given twice")
            flat[name] = item
    return flat


def _coerce(name: str, declared: Any, value: Any, source: str) -> Any:
    if value is None:
        return None
    kind = _without_none(declared)
    if kind is bool:
        return _boolean(name, value, source)
    if kind in (int, float):
        return _number(name, kind, value, source)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        allowed = [str(member.value) for member in kind]
        if str(value) not in allowed:
            raise ConfigurationError(
                f"{source}: {name} must be one of {', '.join(allowed)}, not {value!r}"
            )
        return kind(str(value))
    if typing.get_origin(kind) is tuple:
        items = _text_list(name, value, source)
        _check(name, items, source)
        return items
    if not isinstance(value, str):
        raise ConfigurationError(f"{source}: {name} must be a string, not {value!r}")
    _check(name, value, source)
    return value


def _number(name: str, kind: type[float], value: Any, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigurationError(f"{source}: {name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as err:  # int(inf) overflows
        raise ConfigurationError(f"{source}: {name} must be a number, not {value!r}") from err
    _check(name, number, source)
    return number


def _check(name: str, value: Any, source: str) -> None:
    """The checks of one setting that need no other: numbers within :data:`LIMITS`, then the
    setting's own in :data:`_CHECKS`; the error names where the value came from."""
    try:
        if name in LIMITS:
            _within_limit(name, value)
        if name in _CHECKS:
            _CHECKS[name](value)
    except ConfigurationError as err:
        raise ConfigurationError(f"{source}: {err}") from None


def _region(value: str) -> None:
    # Empty is most often a compose file's or a shell's ``${REGION}`` left unset: refused
    # rather than read as "unset", which would quietly send from whatever region boto3's chain
    # finds (another account's, or none).
    if not value.strip():
        raise ConfigurationError(
            "region is empty: name an AWS region (us-east-1), or unset it to use "
            "AWS_DEFAULT_REGION or the AWS profile's"
        )


#: ``[IPV6]:PORT`` or ``[IPV6]``, ``IPV4:PORT`` or ``IPV4``, or a bare IPv6 address.
_NAMESERVER = re.compile(r"\[([^\[\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?|([^\[\]]+)")


def parse_nameservers(text: str | Sequence[str]) -> list[tuple[str, int]]:
    """``"127.0.0.1:5353, [::1]:53, 192.0.2.1"`` (or the same as a list) as (address, port)
    pairs (port 53 unless given); a :class:`~courrier.errors.ConfigurationError` for anything
    else, a host name included: the resolver is given addresses, and would otherwise report
    every lookup as unanswered rather than the setting as wrong."""
    found: list[tuple[str, int]] = []
    parts = text.split(",") if isinstance(text, str) else text
    for item in (part.strip() for part in parts):
        if not item:
            continue
        match = _NAMESERVER.fullmatch(item)
        if match is None:
            raise ConfigurationError(f"dns_nameservers: {item!r} is not ADDRESS[:PORT]")
        host = match.group(1) or match.group(3) or match.group(5)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            within = "" if host == item else f" (in {item!r})"
            raise ConfigurationError(
                f"dns_nameservers: {host!r}{within} is not an IPv4 or IPv6 address"
            ) from None
        port = int(match.group(2) or match.group(4) or 53)
        if not 0 < port < 65536:
            raise ConfigurationError(f"dns_nameservers: port {port} of {item!r} is out of range")
        found.append((host, port))
    return found


#: Checks of single text settings, run wherever the value comes from.
_CHECKS: dict[str, Callable[[Any], object]] = {
    "region": _region,
    "dns_nameservers": parse_nameservers,
    **{
        name: partial(_fraction, name)
        for name in (
            "guard_bounce_warning",
            "guard_bounce_trip",
            "guard_complaint_warning",
            "guard_complaint_trip",
        )
    },
}


def _without_none(declared: Any) -> Any:
    """``X`` for ``X | None``."""
    if isinstance(declared, types.UnionType) or typing.get_origin(declared) is typing.Union:
        (kind,) = [a for a in typing.get_args(declared) if a is not type(None)]
        return kind
    return declared


def _text_list(name: str, value: Any, source: str) -> tuple[str, ...]:
    """A list from a list (a file, an argument) or from text separated by commas (the
    environment, where a list has no other spelling)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigurationError(f"{source}: {name} must be a list of strings, not {value!r}")
    return tuple(i.strip() for i in items if i.strip())


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _boolean(name: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigurationError(f"{source}: {name} must be true or false, not {value!r}")
