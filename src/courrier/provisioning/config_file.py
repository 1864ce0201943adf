"""Writing what setup made into ``courrier.toml``, keeping the user's other settings."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from courrier.errors import ConfigurationError


def update(path: Path, values: dict[str, str | None]) -> None:
    """Set (or, for None, remove) keys of the ``[courrier]`` table; other tables are kept."""
    data: dict[str, object] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigurationError(f"{path} is not valid TOML: {err}") from err
    table = data.get("courrier", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [courrier] must be a table")
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    data["courrier"] = table
    text = "".join(
        _table(name, content) for name, content in data.items() if isinstance(content, dict)
    )
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _table(name: str, content: dict[str, object]) -> str:
    lines = [f"[{name}]"]
    for key, value in content.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            # A JSON string is a valid TOML basic string.
            lines.append(f"{key} = {json.dumps(str(value), ensure_ascii=False)}")
    return "\n".join(lines) + "\n\n"
