"""The Django app: system checks for ``settings.COURRIER`` and the admin's models."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class CourrierConfig(AppConfig):
    name = "courrier.django"
    label = "courrier"
    verbose_name = "courrier"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from courrier.django.checks import check_settings, check_unsubscribe_view

        checks.register(check_settings, checks.Tags.compatibility)
        checks.register(check_unsubscribe_view, checks.Tags.urls)
