"""The store: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL.

:class:`Store` is the only way in; SQLAlchemy errors leave it as
:class:`~courrier.errors.StoreError`.
"""

from courrier.store.store import MessageRecord, RecipientRecord, Store, Suppression

__all__ = ["MessageRecord", "RecipientRecord", "Store", "Suppression"]
