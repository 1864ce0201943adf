"""SES email templates: stored per region, rendered with Handlebars (pybars3).

SES templates are Handlebars (docs/ses.md#sending-at-volume): ``{{var}}``, ``{{#if}}``,
``{{#each}}``, nested objects. SES checks the data against what the template uses: a value the
template prints that is missing from the data is a rendering failure, not an empty string. Here the
data is wrapped so that a missing value is falsy (``{{#if}}``, ``{{#unless}}`` and ``{{#each}}``
treat it as Handlebars does) but fails as soon as the template prints it.

A renderer that other parts of the sandbox can reuse: :func:`render` takes a
:class:`Template` and a JSON text, and returns the subject, text and HTML.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pybars

from courrier_sandbox.ses.faults import SesFault

#: SES's quota for one template: subject, text and HTML together (500 KB).
MAX_TEMPLATE_BYTES = 500 * 1024
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass
class Template:
    name: str
    subject: str = ""
    text: str | None = None
    html: str | None = None
    created: float = field(default_factory=time.time)

    def check(self) -> None:
        """Refuse what SES refuses when a template is created or updated."""
        if not self.name or len(self.name) > 64 or not set(self.name) <= NAME_CHARS:
            raise SesFault(
                "InvalidTemplate",
                f"Invalid template name <{self.name}>: only ASCII letters, digits, underscores "
                "and dashes, at most 64 characters.",
            )
        size = sum(len((part or "").encode()) for part in (self.subject, self.text, self.html))
        if size > MAX_TEMPLATE_BYTES:
            raise SesFault("InvalidTemplate", f"Template {self.name} is larger than 500 KB.")
        for part in (self.subject, self.text, self.html):
            if part:
                try:
                    _compile(part)
                except Exception as err:  # pybars raises several kinds on bad syntax
                    raise SesFault(
                        "InvalidTemplate", f"Template {self.name} is not valid Handlebars: {err}"
                    ) from err


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


class RenderingFailure(Exception):
    """The data does not render: the message is accepted and not sent
    (docs/ses.md#sending-at-volume)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_data(text: str | None, *, kind: str = "InvalidParameter") -> dict[str, Any]:
    """Template data as given in a request: a JSON object, else the ``kind`` fault."""
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError) as err:
        raise SesFault(kind, f"Template data is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise SesFault(kind, "Template data must be a JSON object.")
    return data


def render(template: Template, data: Mapping[str, Any]) -> Rendered:
    """Raises :class:`RenderingFailure` when a value the template prints is missing."""
    scope = _Data(data)
    return Rendered(
        subject=_render(template.subject, scope),
        text=_render(template.text, scope) if template.text is not None else None,
        html=_render(template.html, scope) if template.html is not None else None,
    )


def _render(source: str, scope: _Data) -> str:
    try:
        return str(_compile(source)(scope, helpers={"helperMissing": _helper_missing}))
    except RenderingFailure:
        raise
    except Exception as err:  # anything else pybars raises is the data's or helper's fault
        raise RenderingFailure(f"Template rendering failed: {err}") from err


_compile_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def _compile_cached(source: str) -> Callable[..., Any]:
    compiled: Callable[..., Any] = pybars.Compiler().compile(source)
    return compiled


def _compile(source: str) -> Callable[..., Any]:
    # pybars' compiler keeps state while it compiles; rendering is thread-safe.
    with _compile_lock:
        return _compile_cached(source)


def _helper_missing(scope: Any, name: str, *args: Any) -> Any:
    if args:
        raise RenderingFailure(f"Helper '{name}' does not exist.")
    raise RenderingFailure(_missing_text(name))


def _missing_text(name: str) -> str:
    # The text of SES's Rendering Failure for a missing variable.
    return f"Attribute '{name}' is not present in the rendering data."


class _Missing:
    """A value the data does not have: false for conditions, a failure when printed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        raise TypeError("missing")  # pybars' each: no items, renders its else block

    def __getitem__(self, key: str) -> _Missing:
        return _Missing(f"{self.name}.{key}")

    def get(self, key: str, default: Any = None) -> _Missing:
        return self[key]

    def __str__(self) -> str:
        raise RenderingFailure(_missing_text(self.name))


class _Data(Mapping[str, Any]):
    """Template data whose missing keys are :class:`_Missing` instead of None."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self._data = data
        self._path = path

    def __getitem__(self, key: str) -> Any:
        name = f"{self._path}.{key}" if self._path else str(key)
        if not isinstance(key, str) or key not in self._data:
            return _Missing(name)
        value = self._data[key]
        if isinstance(value, dict):
            return _Data(value, name)
        if isinstance(value, list):
            return [
                _Data(v, f"{name}.{i}") if isinstance(v, dict) else v for i, v in enumerate(value)
            ]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __str__(self) -> str:
        return json.dumps(self._data)


def template_name_from(name: str | None, arn: str | None) -> str:
    """The template a send names, by name or by ARN (``...:template/NAME``)."""
    if name:
        return name
    if arn and ":template/" in arn:
        return arn.rpartition(":template/")[2]
    raise SesFault("InvalidParameter", "A template name or ARN is required.")
