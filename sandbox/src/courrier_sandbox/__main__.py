"""``python -m courrier_sandbox``: the ``courrier-sandbox`` command."""

from courrier_sandbox.cli import main

main()
