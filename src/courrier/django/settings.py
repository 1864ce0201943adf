"""``settings.COURRIER`` -> :class:`courrier.Settings`, and the objects built from it.

::

    COURRIER = {
        "DATABASE": "default",              # the store in a DATABASES entry, or:
        # "DATABASE_URL": "postgresql://courrier@db/courrier",
        "CONFIGURATION_SET": "courrier",
        "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:courrier-feedback",
    }

Keys are the names of :class:`courrier.Settings` fields in upper case. Each value ranks like
an argument to :meth:`courrier.Settings.load`: what ``COURRIER`` leaves out comes, as
everywhere else, from ``COURRIER_<NAME>`` environment variables, then ``courrier.toml``, then
the defaults. Keyword arguments to ``get_connection()`` rank above ``COURRIER``.

Keys only Django has:

``DATABASE``
    An alias of ``DATABASES`` (SQLite or PostgreSQL) that holds the store, instead of
    ``DATABASE_URL``. The read-only admin needs it.
``SNS_TOPICS``
    The topics whose feedback the SNS view accepts; by default ``TOPIC_ARN`` alone.
``SNS_VERIFY_SIGNATURES``
    ``True`` (the default). ``False`` only for the offline sandbox, which does not sign.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.errors import ConfigurationError
from courrier.sending import Mailer
from courrier.settings import Settings, checked
from courrier.store import Store

__all__ = [
    "DjangoOptions",
    "database_url",
    "load",
    "mailer",
    "options",
    "reset",
    "settings_values",
    "store",
    "url_of",
]

_FIELDS = frozenset(f.name for f in fields(Settings))
#: What Django passes to every backend for its SMTP one: ``send_mail(auth_user=...,
#: auth_password=...)`` arrives as ``username`` and ``password``. Mail leaves through the SES
#: API with AWS credentials, so they mean nothing here; any other unknown name is a mistake.
SMTP_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "username",
        "password",
        "use_tls",
        "use_ssl",
        "timeout",
        "ssl_keyfile",
        "ssl_certfile",
    }
)

log = logging.getLogger(__name__)
_DJANGO_KEYS = frozenset({"DATABASE", "SNS_TOPICS", "SNS_VERIFY_SIGNATURES"})
# libpq connection parameters that a DATABASES entry's OPTIONS may carry; the others
# (pool, isolation_level, server_side_binding, ...) configure Django's own connections.
_LIBPQ_OPTIONS = frozenset(
    {
        "application_name",
        "connect_timeout",
        "options",
        "passfile",
        "service",
        "sslcert",
        "sslkey",
        "sslmode",
        "sslpassword",
        "sslrootcert",
        "target_session_attrs",
    }
)


@dataclass(frozen=True)
class DjangoOptions:
    """The keys of ``COURRIER`` that only the Django integration reads."""

    database: str | None = None
    sns_topics: tuple[str, ...] = ()
    sns_verify_signatures: bool = True


def _configured() -> dict[str, Any]:
    value = getattr(django_settings, "COURRIER", {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"settings.COURRIER must be a dict, not {type(value).__name__}")
    found: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key).upper()
        if name.lower() not in _FIELDS and name not in _DJANGO_KEYS:
            known = ", ".join(sorted([*(f.upper() for f in _FIELDS), *_DJANGO_KEYS]))
            raise ConfigurationError(f"settings.COURRIER: unknown key {key!r} (known: {known})")
        if name in found:
            raise ConfigurationError(f"settings.COURRIER: {name} is given twice")
        if name in _DJANGO_KEYS or item is None:
            found[name] = item
        else:
            found[name] = checked(name.lower(), item, f"settings.COURRIER[{name!r}]")
    return found


def options() -> DjangoOptions:
    configured = _configured()
    database = configured.get("DATABASE")
    if database is not None and not isinstance(database, str):
        raise ConfigurationError("settings.COURRIER: DATABASE must be an alias of DATABASES")
    topics = configured.get("SNS_TOPICS", ())
    if isinstance(topics, str) or not all(isinstance(t, str) for t in topics):
        raise ConfigurationError("settings.COURRIER: SNS_TOPICS must be a list of topic ARNs")
    verify = configured.get("SNS_VERIFY_SIGNATURES", True)
    if not isinstance(verify, bool):
        raise ConfigurationError("settings.COURRIER: SNS_VERIFY_SIGNATURES must be True or False")
    return DjangoOptions(database, tuple(topics), verify)


def settings_values() -> dict[str, Any]:
    """``COURRIER`` as arguments to :meth:`courrier.Settings.load` (lower-case names)."""
    configured = _configured()
    values = {k.lower(): v for k, v in configured.items() if k not in _DJANGO_KEYS}
    alias = options().database
    if alias is not None:
        if "database_url" in values:
            raise ConfigurationError(
                "settings.COURRIER: give DATABASE (an alias of DATABASES) or DATABASE_URL, not both"
            )
        values["database_url"] = database_url(alias)
    return values


def load(**overrides: Any) -> Settings:
    """The settings: ``overrides``, then ``COURRIER``, then environment, file and defaults."""
    values = settings_values()
    ignored = sorted(k for k, v in overrides.items() if k in SMTP_PARAMETERS and v is not None)
    if ignored:
        log.warning("courrier sends through the SES API: ignoring %s", ", ".join(ignored))
    values.update(
        {k: v for k, v in overrides.items() if v is not None and k not in SMTP_PARAMETERS}
    )
    return Settings.load(**values)


def database_url(alias: str) -> str:
    """The store URL of the Django database ``alias`` (its test database under tests)."""
    if alias not in connections:
        raise ConfigurationError(
            f"settings.COURRIER: DATABASE {alias!r} is not in DATABASES "
            f"({', '.join(connections) or 'none'})"
        )
    return url_of(connections[alias].settings_dict, alias)


def url_of(entry: Mapping[str, Any], alias: str = "default") -> str:
    """The store URL for a ``DATABASES`` entry: SQLite (a file) or PostgreSQL."""
    engine = str(entry.get("ENGINE", ""))
    name = str(entry.get("NAME") or "")
    if engine.endswith("sqlite3"):
        if not name or name == ":memory:" or "mode=memory" in name:
            raise ConfigurationError(
                f"DATABASES[{alias!r}] is an in-memory SQLite database, which no other "
                "connection can see: give it a file, or set DATABASE_URL"
            )
        return f"sqlite:///{name}"
    if engine.endswith(("postgresql", "postgis")):
        user = quote(str(entry.get("USER") or ""), safe="")
        password = quote(str(entry.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(entry.get("HOST") or "")
        location = f"[{host}]" if ":" in host else host
        port = f":{entry['PORT']}" if entry.get("PORT") else ""
        extra = {k: str(v) for k, v in (entry.get("OPTIONS") or {}).items() if k in _LIBPQ_OPTIONS}
        if host.startswith("/"):  # a Unix socket directory
            location, extra = "", {**extra, "host": host}
        query = f"?{urlencode(extra)}" if extra else ""
        return f"postgresql://{credentials}{location}{port}/{quote(name, safe='')}{query}"
    raise ConfigurationError(
        f"DATABASES[{alias!r}] uses {engine}; courrier's store runs on SQLite or PostgreSQL: "
        "set DATABASE_URL instead"
    )


# One store per URL and one mailer per settings, shared by every connection and thread of
# the process: opening a store checks its migrations, and the mailer's pacing must be shared
# to respect the account's send rate.
_lock = threading.RLock()  # building a mailer builds its store
_stores: dict[str, Store] = {}
_mailers: dict[Settings, Mailer] = {}

K = TypeVar("K")
V = TypeVar("V")


def _cached(cache: dict[K, V], key: K, build: Callable[[], V]) -> V:
    with _lock:
        if key not in cache:
            cache[key] = build()
        return cache[key]


def store(settings: Settings) -> Store:
    return _cached(_stores, settings.database_url, lambda: Store(settings.database_url))


def mailer(settings: Settings) -> Mailer:
    def build() -> Mailer:
        ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        return Mailer(store(settings), ses, settings=settings)

    return _cached(_mailers, settings, build)


def reset() -> None:
    """Forget the stores and mailers built so far (their settings changed)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _mailers.clear()
    for opened in stores:
        opened.close()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting in ("COURRIER", "DATABASES"):
        reset()
