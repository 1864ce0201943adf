"""The Django test project is set up for this folder only: the rest of the suite runs
without it (pytest-django stays inert until DJANGO_SETTINGS_MODULE is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.settings")
django.setup()

from pytest_django import Settings  # noqa: E402

from courrier.django import settings as courrier_settings  # noqa: E402
from courrier.store import Store  # noqa: E402
from tests.conftest import SandboxClient  # noqa: E402


@pytest.fixture
def project(
    settings: Settings,
    sandbox: SandboxClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SandboxClient]:
    """The project sending through the courrier backend to the sandbox, with its own store."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    settings.EMAIL_BACKEND = "courrier.django.EmailBackend"
    settings.COURRIER = {"DATABASE_URL": database_url, "MAX_SEND_RATE": 1000}
    sandbox.ses.verify_email_identity(EmailAddress="sender@example.com")
    yield sandbox
    courrier_settings.reset()


@pytest.fixture
def project_store(project: SandboxClient) -> Store:
    """The store the project's backend, worker and view use."""
    return courrier_settings.store(courrier_settings.load())
