"""What the dashboard shows when the store or AWS fails, and the ranges its numbers may take.

A page never answers 500 for a failure outside the dashboard: a store that cannot be used is
a 503 page saying so (the cause goes to the log, not to the page: driver messages carry SQL),
and SES's view that cannot be read is a line on the page that needs it, logged once per cause.
"""

from __future__ import annotations

import logging
import threading

from starlette.exceptions import HTTPException

from courrier.errors import InvalidRecord, StoreError, StoreUnusable

__all__ = ["MAX_ROW_ID", "OnceLog", "row_id", "store_advice"]

log = logging.getLogger(__name__)

#: The largest id a row can have in every store: ids are INTEGER columns, 32-bit on PostgreSQL
#: (https://www.postgresql.org/docs/current/datatype-numeric.html), 64-bit on SQLite. A larger
#: number names no row; sent to the database it is an overflow, not "not found".
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int:
    """The row id a path segment names, if some row could have it; 404 otherwise.

    Checked as text before ``int()``: Python refuses to convert more than 4,300 digits
    (a ``ValueError``), which Starlette's ``{id:int}`` converter would let through as a 500.
    """
    digits = len(str(MAX_ROW_ID))
    if not (text.isascii() and text.isdigit() and len(text) <= digits):
        raise HTTPException(404, "no such row")
    value = int(text)
    if not 0 < value <= MAX_ROW_ID:
        raise HTTPException(404, "no such row")
    return value


def store_advice(err: StoreError) -> tuple[int, str]:
    """The status code and the sentence to show for a store failure."""
    if isinstance(err, InvalidRecord):
        return 400, "The store refused a value of this request."
    if isinstance(err, StoreUnusable):
        return 503, (
            "The store is unavailable: it cannot be used as it is (read-only, deleted, "
            "replaced or without its tables). The dashboard's log says why."
        )
    return 503, (
        "The store is unavailable: the database could not be reached or is busy. "
        "Try again in a moment; the dashboard's log says why."
    )


class OnceLog:
    """Logs a warning the first time each distinct message is seen, not on every page view."""

    def __init__(self, limit: int = 100) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def warning(self, text: str) -> None:
        with self._lock:
            if text in self._seen:
                return
            if len(self._seen) >= self._limit:  # bounded: messages can carry request ids
                self._seen.clear()
            self._seen.add(text)
        log.warning("%s", text)
