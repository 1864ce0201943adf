"""Optional parts of courrier and the one way to say which extra they need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from courrier.errors import MissingExtra


@contextmanager
def needs_extra(extra: str, purpose: str) -> Iterator[None]:
    """Turn a missing third-party module imported inside the block into :class:`MissingExtra`.

    A missing module of courrier's own is a broken install, not a missing extra: it is raised
    as it is.
    """
    try:
        yield
    except ModuleNotFoundError as err:
        top = (err.name or "").partition(".")[0]
        if top in ("", "courrier"):
            raise
        raise MissingExtra(extra, purpose, err.name) from err
