"""Two public Django views: the SNS HTTPS endpoint, ``path("ses/feedback/", sns_feedback)``,
and the one-click unsubscribe endpoint, ``path("unsubscribe/<str:token>", unsubscribe)``
(set ``COURRIER["UNSUBSCRIBE_URL"]`` to that path's public URL, without the token).

The SNS endpoint:
It wraps :class:`courrier.feedback.http.SnsReceiver`, as ``courrier receive`` does: the topic
must be on the allow-list (``COURRIER["SNS_TOPICS"]``, by default ``TOPIC_ARN``; without
either every request fails with a configuration error), the signature must verify, a
subscription is confirmed only through an SNS URL, and each notification is applied exactly
once; the feedback signals are sent for what it stores. It is exempt from CSRF checks: SNS
sends no token, and it accepts only signed SNS messages.
"""

from __future__ import annotations

import logging
import threading

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from courrier.django import settings as courrier_settings
from courrier.django.checks import unsubscribe_problem
from courrier.django.signals import hooks, send_unsubscribed
from courrier.errors import ConfigurationError
from courrier.feedback.http import MAX_BODY, Answer, SnsReceiver
from courrier.feedback.signature import SignatureVerifier
from courrier.settings import Settings
from courrier.unsubscribe import PAGE_HEADERS, Endpoint, too_large

__all__ = ["sns_feedback", "unsubscribe"]

log = logging.getLogger(__name__)
_lock = threading.Lock()
# The receiver of the settings in force, built on the first request after they change: its
# verifier caches SNS's signing certificates.
_current: tuple[tuple[Settings, courrier_settings.DjangoOptions], SnsReceiver] | None = None


def receiver() -> SnsReceiver:
    from courrier.aws.clients import endpoint_of  # boto3 loads on the first request only

    global _current
    settings = courrier_settings.load()
    options = courrier_settings.options()
    store = courrier_settings.store(settings)
    with _lock:
        if _current is None or _current[0] != (settings, options) or _current[1].store is not store:
            topics = options.sns_topics or ((settings.topic_arn,) if settings.topic_arn else ())
            built = SnsReceiver(
                store,
                allowed_topics=topics,
                verifier=SignatureVerifier() if options.sns_verify_signatures else None,
                hooks=hooks(),
                sandbox_url=endpoint_of("sns"),
            )
            _current = ((settings, options), built)
        return _current[1]


@csrf_exempt
@require_POST
def sns_feedback(request: HttpRequest) -> HttpResponse:
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit():
        answer = Answer(411, "a Content-Length is required")
    elif too_large(length, MAX_BODY):
        answer = Answer(413, f"body over {MAX_BODY} bytes: not an SNS message")
    else:
        answer = receiver().receive(request.body)
    return JsonResponse(answer.as_dict(), status=answer.status)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a page with a button and changes nothing; POST with
    ``List-Unsubscribe=One-Click`` unsubscribes at once and sends the ``unsubscribed`` signal
    (RFC 8058). Exempt from CSRF checks: mail providers POST from their own servers, and
    only a link signed with ``UNSUBSCRIBE_SECRET`` changes anything."""
    settings = courrier_settings.load()
    try:
        endpoint = Endpoint(
            courrier_settings.store(settings), settings, on_unsubscribe=send_unsubscribed
        )
    except ConfigurationError as err:
        # The system check courrier.W002 reports it at start; a reader gets a page, not a 500.
        log.error(
            "courrier unsubscribe view answers 503: %s (system check courrier.W002)",
            unsubscribe_problem(settings) or err,
        )
        return HttpResponse(
            "Unsubscribing is not available at the moment.", status=503, headers=PAGE_HEADERS
        )
    if request.method != "POST":
        answer = endpoint.get(token)
    elif too_large(request.META.get("CONTENT_LENGTH") or ""):
        return HttpResponse("request too large", status=413, headers=PAGE_HEADERS)
    else:
        fields = {key: request.POST.get(key, "") for key in request.POST}
        answer = endpoint.post(token, fields)
    return HttpResponse(answer.page(), status=answer.status, headers=PAGE_HEADERS)
