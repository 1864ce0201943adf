"""Django integration: ``pip install 'courrier[django]'``, then in the project's settings::

    INSTALLED_APPS = [..., "courrier.django"]
    EMAIL_BACKEND = "courrier.django.EmailBackend"

and in its URLs ``path("ses/feedback/", courrier.django.views.sns_feedback)``.

* :mod:`courrier.django.backend`: the email backend, through :class:`courrier.Mailer`;
* :mod:`courrier.django.settings`: ``settings.COURRIER`` mapped onto :class:`courrier.Settings`;
* :mod:`courrier.django.signals`: feedback as signals, sent by the worker and the SNS view;
* :mod:`courrier.django.views`: the SNS HTTPS endpoint;
* ``manage.py courrier ...``: the ``courrier`` command with the Django settings;
* :mod:`courrier.django.admin`: a read-only admin when the store is a Django database.

The library never imports this package.
"""

from courrier.django.backend import EmailBackend, SendStatus

__all__ = ["EmailBackend", "SendStatus"]
