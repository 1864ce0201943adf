"""The ``courrier`` command: thin commands over the library, one module per area."""

from __future__ import annotations

import click

from courrier import __version__
from courrier.cli.demo import demo
from courrier.cli.sandbox import sandbox


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="courrier")
def main() -> None:
    """Send email through Amazon SES and act on what happens to it afterwards."""


main.add_command(demo)
main.add_command(sandbox)
