"""System checks: a wrong ``settings.COURRIER`` is reported when the project starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error

from courrier.django import settings as courrier_settings
from courrier.errors import ConfigurationError


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        courrier_settings.options()
        courrier_settings.load()
    except ConfigurationError as err:
        return [Error(str(err), hint="See courrier.django.settings.", id="courrier.E001")]
    return []
