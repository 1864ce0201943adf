"""The settings of the small Django project the integration is tested in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SECRET_KEY = "courrier-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.django.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "courrier.django",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# A file, not SQLite's in-memory database: courrier's store opens its own connections to it.
_DATABASE = Path(
    os.environ.get("COURRIER_DJANGO_TEST_DATABASE")
    or Path(tempfile.gettempdir()) / f"courrier-django-{os.getpid()}.sqlite3"
)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _DATABASE,
        "TEST": {"NAME": _DATABASE.with_name(f"test-{_DATABASE.name}")},
    }
}
EMAIL_BACKEND = "courrier.django.EmailBackend"
DEFAULT_FROM_EMAIL = "Zoë <sender@example.com>"
# The project routes the unsubscribe view (urls.py), so it configures it (courrier.W002).
COURRIER = {
    "DATABASE": "default",
    "UNSUBSCRIBE_URL": "https://testserver/unsubscribe",
    "UNSUBSCRIBE_SECRET": "django-tests-secret-key",
}
