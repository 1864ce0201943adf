"""What every command shares: loading settings, and turning courrier errors into exit codes."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from types import FrameType
from typing import Any, TypeVar

import click

from courrier.errors import ConfigurationError, CourrierError, InvalidMessage
from courrier.feedback.apply import Hook
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.engine import in_memory_sqlite

#: Exit codes besides 0: 1 operational failure, 2 bad input or settings.
EXIT_FAILED = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


class CourrierClickError(click.ClickException):
    """A ClickException with courrier's exit code instead of click's fixed 1."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    try:
        yield
    except (ConfigurationError, InvalidMessage) as err:
        raise CourrierClickError(str(err), EXIT_USAGE) from err
    except CourrierError as err:
        raise CourrierClickError(f"{type(err).__name__}: {err}", EXIT_FAILED) from err


@dataclass(frozen=True)
class Host:
    """What a program that runs the CLI inside itself supplies as ``obj`` (the Django
    management command does).

    ``settings`` rank like arguments, below the command line's own options; ``hooks`` run on
    each newly stored feedback event in ``courrier worker`` and ``courrier receive``.
    """

    settings: Mapping[str, Any] = field(default_factory=dict)
    hooks: Mapping[str, Iterable[Hook]] = field(default_factory=dict)


def host_of(ctx: click.Context) -> Host:
    found = ctx.find_root().obj
    return found if isinstance(found, Host) else Host()


#: Every ``--port`` option: a TCP port, 0 for one the system picks. A plain int would pass
#: 70000 on to the socket, which listens on 70000 mod 65536 (and a negative one fails with a
#: traceback). ``courrier_sandbox.cli.PORT`` is the same for ``courrier-sandbox``.
PORT = click.IntRange(0, 65535)

#: ``--host`` for the commands that serve something: loopback unless told otherwise.
listen_host = click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; loopback by default.",
)


def settings_from(
    ctx: click.Context, *, config_may_be_absent: bool = False, **overrides: Any
) -> Settings:
    """The settings for this command: its options over the host's over the usual chain.

    A settings file named by ``--config`` or ``COURRIER_CONFIG`` must exist (exit 2 when it
    does not), unless ``config_may_be_absent``: ``courrier setup`` writes it.
    """
    params: dict[str, Any] = dict(ctx.find_root().params)
    config = params.pop("config", None)
    base: dict[str, Any] = dict(host_of(ctx).settings)
    for given in (params, overrides):
        base.update({k: v for k, v in given.items() if v is not None})
    with errors_as_exit_codes():
        return Settings.load(
            config,
            config_may_be_absent=config_may_be_absent,
            **{k: v for k, v in base.items() if v is not None},
        )


def handles_errors(function: F) -> F:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with errors_as_exit_codes():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def refuse_in_memory(url: str) -> None:
    """A command's store must outlive it. An in-memory SQLite database lives only as long as
    the command, so what one command writes (a suppression, a queued send, a worker's
    feedback) would be gone before the next could read it; the library still takes one (tests,
    a program that embeds courrier)."""
    if in_memory_sqlite(url):
        raise ConfigurationError(
            f"database_url {url!r} is an in-memory SQLite database, which is lost when the "
            "command ends and seen by no other process: give a file (sqlite:///courrier.db) "
            "or a PostgreSQL URL"
        )


def command_store(url: str) -> Store:
    """The store at ``url`` for a command (see :func:`refuse_in_memory`)."""
    refuse_in_memory(url)
    return Store(url)


def open_store(ctx: click.Context, url: str) -> Store:
    """The store at ``url`` (:func:`command_store`), closed when the command ends: a host
    program that runs the CLI inside itself (``manage.py courrier``) goes on after the command,
    its connections must not."""
    store = command_store(url)
    ctx.call_on_close(store.close)
    return store


@contextmanager
def stop_signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``handler`` while a command runs, then restore them."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
