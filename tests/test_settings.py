"""Settings precedence: argument > COURRIER_* > courrier.toml > default."""

from __future__ import annotations

import datetime as dt
import logging
import math
import tempfile
import typing
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import courrier.settings as settings_module
from courrier.errors import ConfigurationError
from courrier.feedback.rules import Rules
from courrier.settings import (
    LIMITS,
    GuardSettings,
    OutboxSettings,
    RetrySettings,
    Route,
    SendRateScope,
    Settings,
    WorkerSettings,
    parse_nameservers,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(in_tmp: Path) -> None:
    settings = Settings.load()
    assert settings.database_url == "sqlite:///courrier.db"
    assert settings.send_attempts == 6


def test_precedence(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "courrier.toml").write_text(
        '[courrier]\ndatabase_url = "sqlite:///file.db"\nsender = "file@example.com"\n'
        "send_attempts = 2\n"
    )
    assert Settings.load().sender == "file@example.com"
    assert Settings.load().send_attempts == 2
    monkeypatch.setenv("COURRIER_SENDER", "env@example.com")
    monkeypatch.setenv("COURRIER_SEND_ATTEMPTS", "4")
    settings = Settings.load()
    assert (settings.sender, settings.send_attempts, settings.database_url) == (
        "env@example.com",
        4,
        "sqlite:///file.db",
    )
    assert Settings.load(sender="arg@example.com").sender == "arg@example.com"


def test_config_file_from_environment(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = in_tmp / "other.toml"
    other.write_text('[courrier]\nregion = "eu-west-1"\n')
    monkeypatch.setenv("COURRIER_CONFIG", str(other))
    assert Settings.load().region == "eu-west-1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[courrier\n", "not valid TOML"),
        ('[courrier]\nnope = "x"\n', "unknown setting"),
        ('[courrier]\nsend_attempts = "many"\n', "must be a number"),
        ("[courrier]\nsender = 3\n", "must be a string"),
        ('courrier = "x"\n', "must be a table"),
    ],
)
def test_bad_files_name_the_problem(in_tmp: Path, content: str, message: str) -> None:
    (in_tmp / "courrier.toml").write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        Settings.load()


def test_bad_environment_and_arguments(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURRIER_READ_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="COURRIER_READ_TIMEOUT"):
        Settings.load()
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.load(colour="blue")


def test_booleans_and_reputation_settings(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().guard_blocks_transactional is False
    (in_tmp / "courrier.toml").write_text(
        "[courrier]\nreputation_count_simulator = true\nguard_bounce_trip = 0.03\n"
    )
    loaded = Settings.load()
    assert (loaded.reputation_count_simulator, loaded.guard_bounce_trip) == (True, 0.03)
    for text, value in (("yes", True), ("0", False), ("False", False), ("on", True)):
        monkeypatch.setenv("COURRIER_GUARD_BLOCKS_TRANSACTIONAL", text)
        assert Settings.load().guard_blocks_transactional is value
    monkeypatch.setenv("COURRIER_GUARD_BLOCKS_TRANSACTIONAL", "sometimes")
    with pytest.raises(ConfigurationError, match="must be true or false"):
        Settings.load()


def test_a_named_config_file_that_does_not_exist_is_refused(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=r"settings file courrier\.tmol does not exist"):
        Settings.load("courrier.tmol")
    monkeypatch.setenv("COURRIER_CONFIG", "elsewhere.toml")
    with pytest.raises(ConfigurationError, match=r"elsewhere\.toml .* by COURRIER_CONFIG"):
        Settings.load()
    # Only a file that is about to be written (courrier setup) may be absent.
    assert Settings.load(config_may_be_absent=True).database_url == "sqlite:///courrier.db"


def test_the_implicit_default_file_may_be_absent(in_tmp: Path) -> None:
    assert not (in_tmp / "courrier.toml").exists()
    assert Settings.load().database_url == "sqlite:///courrier.db"


def test_a_file_may_group_settings_in_sub_tables(in_tmp: Path) -> None:
    (in_tmp / "courrier.toml").write_text(
        "[courrier]\nsender = 'a@example.com'\n\n"
        "[courrier.guard]\nbounce_trip = 0.03\nblocks_transactional = true\n\n"
        "[courrier.outbox]\nmax_attempts = 4\n"
    )
    loaded = Settings.load()
    assert loaded.guard == GuardSettings(bounce_trip=0.03, blocks_transactional=True)
    assert loaded.outbox.max_attempts == 4 == loaded.outbox_max_attempts
    (in_tmp / "courrier.toml").write_text(
        "[courrier]\nguard_bounce_trip = 0.03\n[courrier.guard]\nbounce_trip = 0.02\n"
    )
    with pytest.raises(ConfigurationError, match="guard_bounce_trip is given twice"):
        Settings.load()
    (in_tmp / "courrier.toml").write_text("[courrier.guard]\nbounce_tirp = 0.02\n")
    with pytest.raises(ConfigurationError, match=r"unknown setting.*guard_bounce_tirp"):
        Settings.load()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "COURRIER_GUARD_BOUNCE_WARNING",
            "0.05",
            "guard_bounce_warning must not be above guard_bounce_trip",
        ),
        ("COURRIER_GUARD_COMPLAINT_TRIP", "1.5", "guard_complaint_trip must be a fraction"),
        ("COURRIER_GUARD_MIN_VOLUME", "-1", "guard_min_volume must be at least 1"),
        ("COURRIER_SEND_ATTEMPTS", "0", "send_attempts must be at least 1"),
        ("COURRIER_BACKOFF_CAP", "0.1", "backoff_cap .* below backoff_base"),
        ("COURRIER_SEND_BURST", "0", "send_burst must be greater than 0"),
        ("COURRIER_MAX_SEND_RATE", "-2", "max_send_rate must be positive"),
        ("COURRIER_OUTBOX_LEASE", "0", "outbox_lease must be greater than 0"),
        ("COURRIER_WORKER_CONCURRENCY", "0", "worker_concurrency must be at least 1"),
        ("COURRIER_SOFT_BOUNCE_WINDOW_DAYS", "0", "soft_bounce_window_days must be greater"),
        ("COURRIER_SUPPRESSION_TTL_DAYS", "-1", "suppression_ttl_days must be greater"),
        ("COURRIER_REPUTATION_WINDOW", "0", "reputation_window must be at least 1"),
        ("COURRIER_ROUTE", "sqs", "route must be one of events, notifications, not 'sqs'"),
        ("COURRIER_SEND_RATE_SCOPE", "host", "send_rate_scope must be one of store, process"),
    ],
)
def test_a_value_out_of_its_range_is_an_error_of_the_load(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        Settings.load()


def test_settings_built_directly_are_checked_and_normalised_as_loaded_ones() -> None:
    settings = Settings(route="notifications", send_rate_scope="process")  # type: ignore[arg-type]
    assert settings.route is Route.NOTIFICATIONS
    assert settings.send_rate.scope is SendRateScope.PROCESS
    assert Settings(dns_nameservers="127.0.0.1:5353, [::1]").dns_nameservers == (  # type: ignore[arg-type]
        "127.0.0.1:5353",
        "[::1]",
    )
    with pytest.raises(ConfigurationError, match="guard_complaint_warning"):
        Settings(guard_complaint_warning=0.01)
    # Still hashable: the Django integration keys its mailers by settings.
    assert len({Settings(), Settings()}) == 1


def test_lists_from_a_file_or_from_text(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().reputation.no_complaint_feedback_domains == (
        "gmail.com",
        "googlemail.com",
    )
    (in_tmp / "courrier.toml").write_text(
        '[courrier]\nreputation_no_complaint_feedback_domains = ["gmail.com", "aol.com"]\n'
        'dns_nameservers = ["127.0.0.1:5353"]\n'
    )
    loaded = Settings.load()
    assert loaded.reputation_no_complaint_feedback_domains == ("gmail.com", "aol.com")
    assert loaded.dns_nameservers == ("127.0.0.1:5353",)
    monkeypatch.setenv("COURRIER_REPUTATION_NO_COMPLAINT_FEEDBACK_DOMAINS", " yahoo.com ,, ")
    assert Settings.load().reputation_no_complaint_feedback_domains == ("yahoo.com",)
    (in_tmp / "courrier.toml").write_text("[courrier]\ndns_nameservers = [53]\n")
    with pytest.raises(ConfigurationError, match="dns_nameservers must be a list of strings"):
        Settings.load()


def test_the_bounce_rules_come_from_the_settings(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Rules.from_settings(Settings.load()) == Rules()
    (in_tmp / "courrier.toml").write_text(
        "[courrier]\nsoft_bounce_limit = 5\nsoft_bounce_window_days = 2.5\n"
    )
    monkeypatch.setenv("COURRIER_SUPPRESSION_TTL_DAYS", "30")
    rules = Rules.from_settings(Settings.load())
    assert rules.soft_bounce_limit == 5
    assert rules.soft_bounce_window == dt.timedelta(days=2, hours=12)
    assert rules.suppression_ttl == dt.timedelta(days=30)
    # A command-line option wins; an option left out leaves the setting.
    assert Rules.from_settings(Settings.load(), soft_bounce_limit=2).soft_bounce_limit == 2
    assert Rules.from_settings(Settings.load(), soft_bounce_limit=None).soft_bounce_limit == 5


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COURRIER_SOFT_BOUNCE_WINDOW_DAYS", "inf", "soft_bounce_window_days must be a finite"),
        ("COURRIER_SOFT_BOUNCE_WINDOW_DAYS", "nan", "soft_bounce_window_days must be a finite"),
        ("COURRIER_SOFT_BOUNCE_WINDOW_DAYS", "1e10", "soft_bounce_window_days must be at most"),
        ("COURRIER_SOFT_BOUNCE_WINDOW_DAYS", "1e400", "soft_bounce_window_days must be a finite"),
        ("COURRIER_SUPPRESSION_TTL_DAYS", "1e10", "suppression_ttl_days must be at most"),
        ("COURRIER_REPUTATION_WINDOW_DAYS", "100000000", "reputation_window_days must be at most"),
        ("COURRIER_OUTBOX_LEASE", "inf", "outbox_lease must be a finite"),
        ("COURRIER_OUTBOX_LEASE", "1e12", "outbox_lease must be at most"),
        ("COURRIER_OUTBOX_RETRY_DELAY", "1e400", "outbox_retry_delay must be a finite"),
        ("COURRIER_OUTBOX_TENANT_HOLD", "1e400", "outbox_tenant_hold must be a finite"),
        ("COURRIER_READ_TIMEOUT", "inf", "read_timeout must be a finite"),
        ("COURRIER_READ_TIMEOUT", "1e12", "read_timeout must be at most"),
        ("COURRIER_MAX_SEND_RATE", "nan", "max_send_rate must be a finite"),
    ],
)
def test_a_number_must_be_finite_and_within_its_limit(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"{variable}: {message}"):
        Settings.load()


def test_a_file_number_too_large_for_its_type_is_refused(in_tmp: Path) -> None:
    (in_tmp / "courrier.toml").write_text("[courrier]\nsend_attempts = inf\n")
    with pytest.raises(ConfigurationError, match="send_attempts must be a number"):
        Settings.load()
    (in_tmp / "courrier.toml").write_text("[courrier.outbox]\nlease = 1e300\n")
    with pytest.raises(ConfigurationError, match=r"'outbox_lease' in courrier.toml: .*at most"):
        Settings.load()


def test_groups_built_directly_check_their_limits() -> None:
    with pytest.raises(ConfigurationError, match="outbox_lease must be a finite"):
        OutboxSettings(lease=math.inf)
    with pytest.raises(ConfigurationError, match="read_timeout must be at most"):
        RetrySettings(read_timeout=1e12)
    with pytest.raises(ConfigurationError, match="suppression_ttl_days must be at most"):
        WorkerSettings(suppression_ttl=dt.timedelta(days=100_000))


def _numeric_settings() -> list[str]:
    hints = typing.get_type_hints(Settings)
    return [
        f.name
        for f in fields(Settings)
        if {int, float} & ({hints[f.name]} | set(typing.get_args(hints[f.name])))
    ]


def test_every_numeric_setting_has_a_limit() -> None:
    fractions = {n for n in _numeric_settings() if n.startswith("guard_") and "volume" not in n}
    assert set(_numeric_settings()) - fractions == set(LIMITS)


def _usable(settings: Settings) -> None:
    """What courrier does with the numbers: datetimes around now, the groups, the rules."""
    now = dt.datetime.now(dt.UTC)
    for name in LIMITS:
        value = getattr(settings, name)
        if value is not None:
            span = (
                dt.timedelta(days=value) if name.endswith("_days") else dt.timedelta(seconds=value)
            )
            assert now - span <= now + span
    for group in ("send_rate", "retry", "guard", "reputation", "outbox", "worker"):
        getattr(settings, group)
    Rules.from_settings(settings)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(_numeric_settings()),
    number=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e400, -1e400, 1e10, 1e12, 1e300, 0.5, 2.0, 30.0]),
        st.integers(min_value=-(2**70), max_value=2**70),
    ),
    from_file=st.booleans(),
)
def test_any_number_loads_usable_or_is_a_configuration_error(
    name: str, number: float, from_file: bool
) -> None:
    text = repr(float(number)) if isinstance(number, float) else str(number)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        if from_file:
            Path(folder, "courrier.toml").write_text(f"[courrier]\n{name} = {text}\n")
        else:
            patch.setenv(f"COURRIER_{name.upper()}", text)
        try:
            loaded = Settings.load()
        except ConfigurationError:
            return
        _usable(loaded)


def test_an_empty_region_is_refused_not_taken_as_unset(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_tmp / "courrier.toml").write_text('[courrier]\nregion = ""\n')
    with pytest.raises(ConfigurationError, match=r"'region' in courrier.toml: region is empty"):
        Settings.load()
    monkeypatch.setenv("COURRIER_REGION", " ")
    with pytest.raises(ConfigurationError, match="COURRIER_REGION: region is empty"):
        Settings.load()


@pytest.mark.parametrize("value", ["notanip", "dns.example.com:53", "[notanip]:53", "1.2.3:53"])
def test_a_nameserver_must_be_an_ip_address(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("COURRIER_DNS_NAMESERVERS", f"127.0.0.1, {value}")
    with pytest.raises(
        ConfigurationError, match=r"COURRIER_DNS_NAMESERVERS: .*not an IPv4 or IPv6"
    ):
        Settings.load()


def test_nameservers_of_either_family_with_or_without_a_port(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURRIER_DNS_NAMESERVERS", "192.0.2.1, 127.0.0.1:5353, [::1]:53, ::1")
    servers = Settings.load().dns_nameservers
    assert parse_nameservers(servers) == [
        ("192.0.2.1", 53),
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("::1", 53),
    ]


def test_an_unknown_courrier_variable_is_warned_about_with_the_closest_name(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings_module, "_warned", set())
    monkeypatch.setenv("COURRIER_DATABSE_URL", "sqlite:///typo.db")
    monkeypatch.setenv("COURRIER_CONFIG", str(in_tmp / "courrier.toml"))
    (in_tmp / "courrier.toml").write_text("[courrier]\n")
    monkeypatch.setenv("COURRIER_TEST_ANYTHING", "1")
    monkeypatch.setenv("COURRIER_DJANGO_TEST_DATABASE", "x")
    with caplog.at_level(logging.WARNING, logger="courrier.settings"):
        Settings.load()
        Settings.load()  # once per process, not at every load
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "the environment variable COURRIER_DATABSE_URL names no courrier setting; "
        "did you mean COURRIER_DATABASE_URL?"
    ]
