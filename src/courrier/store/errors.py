"""SQLAlchemy and driver errors -> courrier's store errors, by what the caller should do.

* :class:`~courrier.errors.StoreUnavailable`: the database was unreachable, restarting,
  busy or locked. The same work may succeed later: the worker backs off and retries.
* :class:`~courrier.errors.InvalidRecord`: the database refused this data (a value too long
  for its column, a NUL, an unpaired surrogate, a constraint). The same data fails the same
  way: the worker sets that message aside and applies the rest of its batch.
* :class:`~courrier.errors.StoreUnusable`: the store cannot be written at all (read-only
  file or session, missing schema). Retrying changes nothing: the worker stops.
"""

from __future__ import annotations

from sqlalchemy import exc

from courrier.errors import InvalidRecord, StoreError, StoreUnavailable, StoreUnusable

__all__ = ["store_error"]

#: Driver messages that mean "this store cannot be written", whatever the exception class.
_UNUSABLE = (
    "readonly database",
    "read-only transaction",
    "read only transaction",
    "no such table",
    "does not exist",  # PostgreSQL: relation / column / schema
    "unable to open database file",
    "disk i/o error",
    "permission denied",
)


def store_error(err: BaseException) -> StoreError:
    """The courrier error for ``err``, raised from a store operation."""
    message = f"database error: {err}"
    if isinstance(err, UnicodeError):
        # sqlite3 and psycopg raise these themselves, before any SQL runs.
        return InvalidRecord(f"a value cannot be stored as UTF-8: {err}")
    detail = str(getattr(err, "orig", None) or err).lower()
    if any(marker in detail for marker in _UNUSABLE):
        return StoreUnusable(message)
    if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
        return StoreUnavailable(message)
    if isinstance(err, exc.DataError | exc.IntegrityError):
        return InvalidRecord(message)
    if isinstance(err, exc.StatementError) and isinstance(err.orig, UnicodeError | ValueError):
        return InvalidRecord(message)
    if isinstance(err, exc.ProgrammingError):
        return StoreUnusable(message)
    return StoreUnavailable(message)
