"""What setup made, in the ``[courrier]`` table of ``courrier.toml``; the rest of the file kept.

tomlkit edits the file in place, so comments, formatting, root keys and every other table
stay byte for byte as the user wrote them.

Each key setup writes carries the comment ``# courrier setup``, so that teardown removes
those and keeps what the user wrote: a ``sender`` of their own, say. Setup keeps a
``sender`` the user set, and says when it replaces another value of theirs.
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

__all__ = ["MARK", "SETUP_KEYS", "forget_setup", "remember_setup", "update"]

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
#: The keys that name what setup made and teardown deletes: stale once it is gone, so
#: teardown removes them whoever wrote them.
PIPELINE_KEYS = (
    "identity",
    "route",
    "prefix",
    "topic_arn",
    "queue_url",
    "dead_letter_queue_url",
    "configuration_set",
)
#: The keys setup fills in only when the user has not: its value is a default.
USERS_FIRST = ("sender",)
#: The comment on each key setup wrote.
MARK = "courrier setup"


def remember_setup(path: Path, values: Mapping[str, str | bool | None]) -> list[str]:
    """Write what setup made (``values`` holds only keys of :data:`SETUP_KEYS`; None removes
    one setup wrote), each key marked as setup's; what it did to the user's own values, one
    line each.

    A value of the user's in :data:`USERS_FIRST` is kept; any other is replaced, and said.
    """
    unknown = sorted(set(values) - set(SETUP_KEYS))
    if unknown:
        raise ValueError(f"not setup's keys: {', '.join(unknown)}")
    users = _users_values(path)
    said: list[str] = []
    wanted: dict[str, str | bool | None] = {}
    for key, value in values.items():
        if key not in users:
            wanted[key] = value
        elif value is None:
            if key == "verify_signatures" and users[key] is False:
                # Only a stand-in for AWS has signatures that cannot be checked: left in
                # place, it would turn the checks off against AWS itself.
                said.append("removed your verify_signatures = false: AWS's signatures are checked")
                wanted[key] = None
        elif users[key] == value:
            if key not in USERS_FIRST:
                wanted[key] = value  # setup's too from now on: teardown removes it
        elif key in USERS_FIRST:
            said.append(f"kept your {key} = {users[key]!r} (setup's would be {value!r})")
        else:
            said.append(f"replaced your {key} = {users[key]!r} with {value!r}")
            wanted[key] = value
    update(path, wanted, mark=MARK)
    return said


def _users_values(path: Path) -> dict[str, object]:
    """The values the user wrote: the unmarked ones, except, in a file written before setup
    marked its keys, those setup may have written (its default ``sender`` aside)."""
    table = _table(path)
    if table is None:
        return {}
    legacy = _written_before_marks(table)
    return {
        key: value
        for key, value in table.unwrap().items()
        if not _marked(table, key) and not (legacy and key in SETUP_KEYS and key not in USERS_FIRST)
    }


def forget_setup(path: Path) -> None:
    """Remove the keys setup wrote, and those naming what teardown deleted; a file written
    before setup marked its keys loses every key setup may have written."""
    table = _table(path)
    if table is None:
        return
    # No mark at all: the file came before marks, and teardown removes as it always did.
    legacy = not any(_marked(table, key) for key in table)
    gone = [
        key
        for key in SETUP_KEYS
        if key in table and (legacy or key in PIPELINE_KEYS or _marked(table, key))
    ]
    update(path, dict.fromkeys(gone))


def _table(path: Path) -> Table | InlineTable | None:
    if not path.exists():
        return None
    table = _parse(path).get(TABLE)
    return table if isinstance(table, Table | InlineTable) else None


def _written_before_marks(table: Table | InlineTable) -> bool:
    """Whether an earlier setup wrote this table without marking its keys: it always wrote
    the pipeline's topic and queue, which a person writing the file beforehand does not."""
    marked = any(_marked(table, key) for key in table)
    return not marked and ("topic_arn" in table or "queue_url" in table)


def _marked(table: Table | InlineTable, key: str) -> bool:
    trivia = getattr(table.item(key), "trivia", None)
    return trivia is not None and trivia.comment.lstrip("#").strip() == MARK


def _parse(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (TOMLKitError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{path} is not valid TOML: {err}") from err


def update(path: Path, values: Mapping[str, str | bool | None], *, mark: str | None = None) -> None:
    """Set (or, for None, remove) keys of the ``[courrier]`` table; nothing else changes.
    Each key set carries ``mark`` as its comment.

    A ``[courrier]`` table left empty is removed; a missing file is created only to set keys.
    """
    if not path.exists() and all(v is None for v in values.values()):
        return
    document = _parse(path) if path.exists() else tomlkit.document()
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
            item = tomlkit.item(value)
            if mark:
                item.comment(mark)
            table[key] = item
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
