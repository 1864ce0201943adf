"""What setup made, in the ``[courrier]`` table of ``courrier.toml``; the rest of the file kept.

tomlkit edits the file in place, so comments, formatting, root keys and every other table
stay byte for byte as the user wrote them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable, Table

from courrier.errors import ConfigurationError

__all__ = ["SETUP_KEYS", "forget_setup", "remember_setup", "update"]

TABLE = "courrier"
#: Every key ``courrier setup`` may write; teardown removes all of them.
SETUP_KEYS = (
    "identity",
    "route",
    "prefix",
    "topic_arn",
    "queue_url",
    "dead_letter_queue_url",
    "configuration_set",
    "sender",
    "unsubscribe_contact_list",
    "unsubscribe_topic",
    "verify_signatures",
)


def remember_setup(path: Path, values: Mapping[str, str | bool | None]) -> None:
    """Write what setup made (``values`` holds only keys of :data:`SETUP_KEYS`; None removes
    one)."""
    unknown = sorted(set(values) - set(SETUP_KEYS))
    if unknown:
        raise ValueError(f"not setup's keys: {', '.join(unknown)}")
    update(path, values)


def forget_setup(path: Path) -> None:
    """Remove every key setup may have written."""
    update(path, dict.fromkeys(SETUP_KEYS))


def update(path: Path, values: Mapping[str, str | bool | None]) -> None:
    """Set (or, for None, remove) keys of the ``[courrier]`` table; nothing else changes.

    A ``[courrier]`` table left empty is removed; a missing file is created only to set keys.
    """
    if not path.exists() and all(v is None for v in values.values()):
        return
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else None
    except (TOMLKitError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{path} is not valid TOML: {err}") from err
    document = document if document is not None else tomlkit.document()
    table = document.get(TABLE)
    if table is None:
        if all(v is None for v in values.values()):
            return
        table = tomlkit.table()
        document[TABLE] = table
    if not isinstance(table, Table | InlineTable):
        raise ConfigurationError(f"{path}: [{TABLE}] must be a table")
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
        else:
            table[key] = value
    text = tomlkit.dumps(document)
    if not table:
        was_last = list(document)[-1] == TABLE
        del document[TABLE]
        text = tomlkit.dumps(document)
        if was_last and text.endswith("\n\n"):
            text = text[:-1]  # the blank line that separated the table from the one before
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)
    os.replace(tmp, path)
