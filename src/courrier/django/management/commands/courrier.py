"""``manage.py courrier <command> ...``: the ``courrier`` command with the Django settings.

Every command of the CLI (``worker``, ``setup``, ``doctor``, ``send``, ``suppression``, ...)
runs with ``settings.COURRIER`` ranking like arguments (below the command line's own
options), and ``worker`` and ``receive`` send the feedback signals.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import click
from django.core.management.base import BaseCommand, CommandError, CommandParser

from courrier.cli import main
from courrier.cli.common import Host
from courrier.django import settings as courrier_settings
from courrier.django.signals import hooks
from courrier.errors import ConfigurationError

# manage.py has applied these already; the CLI does not know them.
_DJANGO_OPTIONS = ("--settings", "--pythonpath")


class Command(BaseCommand):
    help = (
        "Run a courrier command (worker, setup, doctor, send, suppression, ...) with the "
        "Django settings; 'manage.py courrier --help' lists them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    def run_from_argv(self, argv: list[str]) -> None:
        # The CLI parses its own arguments, prints its own errors and exits with its codes.
        self._called_from_command_line = True
        try:
            self.check()
            host = self.host()
        except CommandError as err:
            self.stderr.write(f"{type(err).__name__}: {err}")
            sys.exit(err.returncode)
        main.main(args=_cli_arguments(argv[2:]), prog_name=f"{argv[0]} courrier", obj=host)

    def handle(self, *args: str, **options: Any) -> None:
        """For ``call_command("courrier", ...)``: the CLI's failures as CommandError."""
        try:
            code = main.main(
                args=list(args), prog_name="courrier", obj=self.host(), standalone_mode=False
            )
        except click.ClickException as err:
            raise CommandError(err.format_message(), returncode=err.exit_code) from err
        except click.Abort as err:
            raise CommandError("aborted") from err
        if isinstance(code, int) and code:
            raise CommandError(f"courrier {' '.join(args)} exited with {code}", returncode=code)

    def host(self) -> Host:
        try:
            return Host(settings=courrier_settings.settings_values(), hooks=hooks())
        except ConfigurationError as err:
            raise CommandError(str(err), returncode=2) from err


def _cli_arguments(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _DJANGO_OPTIONS)):
            out.append(arg)
    return out
