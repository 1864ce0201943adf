"""System checks: a wrong ``settings.COURRIER`` is reported when the project starts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning
from django.urls import URLPattern, URLResolver, get_resolver

from courrier.django import settings as courrier_settings
from courrier.errors import ConfigurationError
from courrier.settings import Settings
from courrier.unsubscribe import links_for


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        courrier_settings.options()
        courrier_settings.load()
    except ConfigurationError as err:
        return [Error(str(err), hint="See courrier.django.settings.", id="courrier.E001")]
    return []


def check_unsubscribe_view(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The unsubscribe view in the URLconf needs its links' URL and secret: without them it
    can only answer 503 to every reader."""
    from courrier.django.views import unsubscribe

    try:
        settings = courrier_settings.load()
    except ConfigurationError:
        return []  # courrier.E001 says why
    problem = unsubscribe_problem(settings)
    if problem is None or not routes(unsubscribe):
        return []
    # A warning, not an error: an error would stop every manage.py command (migrate, test)
    # wherever the secret is not set, while the view itself answers 503.
    return [
        Warning(
            f"the courrier unsubscribe view is in the URLconf, but {problem}",
            hint="Set COURRIER['UNSUBSCRIBE_URL'] (the view's public URL, without the token) "
            "and COURRIER['UNSUBSCRIBE_SECRET'].",
            id="courrier.W002",
        )
    ]


def unsubscribe_problem(settings: Settings) -> str | None:
    """Why the unsubscribe view cannot answer with these settings; None when it can."""
    if not (settings.unsubscribe_url or settings.unsubscribe_secret):
        return "unsubscribe_url and unsubscribe_secret are not set"
    try:
        links_for(settings)
    except ConfigurationError as err:
        return str(err)
    return None


def routes(view: Callable[..., Any]) -> bool:
    """Whether the project's URLconf sends some path to ``view`` (wrapped or not)."""
    try:
        patterns = get_resolver().url_patterns
    except Exception:
        # The URLconf is the project's code; Django's own check (urls) reports its errors.
        return False
    return any(_is(callback, view) for callback in _callbacks(patterns))


def _callbacks(patterns: Iterable[URLPattern | URLResolver]) -> Iterable[Callable[..., Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _callbacks(pattern.url_patterns)
        else:
            yield pattern.callback


def _is(callback: Callable[..., Any], view: Callable[..., Any]) -> bool:
    current: Any = callback
    while current is not None:
        if current is view:
            return True
        current = getattr(current, "__wrapped__", None)
    return False
