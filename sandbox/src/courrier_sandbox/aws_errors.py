"""The routing layer's refusals: bodies read safely, moto guarded, AWS-shaped errors.

A client reads an error the way its service's protocol says: query/XML services (SES v1,
SNS, STS, SQS's older query API) an ``<ErrorResponse>``, JSON services (SQS today) a
``__type`` field (plus ``x-amzn-query-error`` for SQS's query-compatible clients), REST-JSON
(SES v2) the ``x-amzn-ErrorType`` header. Answering in the wrong shape would turn a clear
refusal into a parse error on the client side.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

import botocore.session
from werkzeug.wrappers import Request, Response

from courrier_sandbox.ses.wire.formats import xml_text

log = logging.getLogger(__name__)

#: Larger than any SES v2 raw message (40 MB, base64-encoded in JSON).
MAX_BODY_BYTES = 64 * 1024 * 1024


class Protocol(StrEnum):
    QUERY = "query"
    JSON = "json"
    REST_JSON = "rest-json"


def protocol_of(environ: Mapping[str, Any]) -> Protocol:
    if str(environ.get("PATH_INFO", "")).startswith("/v2/"):
        return Protocol.REST_JSON
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if environ.get("HTTP_X_AMZ_TARGET") or "amz-json" in content_type:
        return Protocol.JSON
    return Protocol.QUERY


def error_response(
    protocol: Protocol, status: int, code: str, message: str, *, sender: bool = True
) -> Response:
    request_id = os.urandom(16).hex()
    if protocol is Protocol.QUERY:
        root = ET.Element("ErrorResponse")
        error = ET.SubElement(root, "Error")
        ET.SubElement(error, "Type").text = "Sender" if sender else "Receiver"
        ET.SubElement(error, "Code").text = code
        # A message can echo what the request held: nothing XML cannot carry may reach it.
        ET.SubElement(error, "Message").text = xml_text(message)
        ET.SubElement(root, "RequestId").text = request_id
        return Response(ET.tostring(root, encoding="utf-8"), status=status, content_type="text/xml")
    body = (
        {"__type": code, "message": message} if protocol is Protocol.JSON else {"message": message}
    )
    response = Response(
        json.dumps(body),
        status=status,
        content_type=(
            "application/x-amz-json-1.0" if protocol is Protocol.JSON else "application/json"
        ),
    )
    response.headers["x-amzn-RequestId"] = request_id
    if protocol is Protocol.JSON:
        response.headers["x-amzn-query-error"] = f"{code};{'Sender' if sender else 'Receiver'}"
    else:
        response.headers["x-amzn-ErrorType"] = code
    return response


def buffer_body(environ: dict[str, Any]) -> Response | None:
    """Read the whole body before any protocol code sees it; a refusal if it cannot be read.

    A malformed chunked body makes werkzeug's reader raise wherever the body is first read,
    deep inside moto's parsers; reading it here turns that into one clear 400.
    """
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > MAX_BODY_BYTES:
        return error_response(
            protocol_of(environ), 400, "InvalidParameterValue", "Invalid Content-Length."
        )
    stream = environ.get("wsgi.input")
    try:
        if stream is None:
            body = b""
        elif chunked:
            body = stream.read(MAX_BODY_BYTES + 1)
        else:
            body = stream.read(length) if length else b""
    except (OSError, ValueError) as err:
        return error_response(
            protocol_of(environ), 400, "InvalidParameterValue", f"Malformed request body: {err}"
        )
    if len(body) > MAX_BODY_BYTES:
        return error_response(protocol_of(environ), 413, "RequestEntityTooLarge", "Body too large.")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False
    return None


@functools.cache
def _operations(service: str) -> tuple[str, frozenset[str]]:
    """The JSON target prefix and the operation names of ``service``, from botocore's model."""
    model = botocore.session.get_session().get_service_model(service)
    return str(model.metadata.get("targetPrefix", "")), frozenset(model.operation_names)


def unknown_operation(environ: dict[str, Any], service: str) -> Response | None:
    """An ``InvalidAction`` refusal when the request names no operation of ``service``.

    AWS answers an action it does not have with ``InvalidAction`` and HTTP 400, in the
    request's own protocol
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
    The sandbox decides it from botocore's service model instead of leaving it to moto, whose
    answer to an unknown action has changed between releases.
    """
    protocol = protocol_of(environ)
    prefix, operations = _operations(service)
    if protocol is Protocol.JSON:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        named, _, action = target.rpartition(".")
        known = named == prefix and action in operations
    else:
        action = _query_action(environ)
        known = action in operations
    if known:
        return None
    return error_response(
        protocol,
        400,
        "InvalidAction",
        f"The action or operation requested is invalid: {action or '(none)'}. "
        "Verify that the action is typed correctly.",
    )


def _query_action(environ: dict[str, Any]) -> str:
    """The query protocol's ``Action``, from the query string or the (buffered) form body."""
    request = Request(environ)
    action = request.args.get("Action")
    if action is None and request.mimetype == "application/x-www-form-urlencoded":
        action = request.form.get("Action")
        # The form was parsed from the buffered body: rewind it for moto.
        environ["wsgi.input"].seek(0)
    return action or ""


def guarded(
    app: Any, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """moto's answer, or a 400 where moto's parsers fail on malformed input.

    moto raises or answers 500 on requests it cannot parse (wrong types, broken query
    strings); AWS refuses them as the caller's fault.
    """
    captured: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return lambda data: None

    try:
        result = app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception as err:
        log.debug("moto refused a malformed request", exc_info=True)
        return _malformed(environ, start_response, err)
    status, headers = captured
    if int(status.split(" ", 1)[0]) >= 500:
        return _malformed(environ, start_response, body.decode("utf-8", "replace")[:200])
    start_response(status, headers)
    return [body]


def _malformed(
    environ: dict[str, Any], start_response: Callable[..., Any], why: object
) -> Iterable[bytes]:
    response = error_response(
        protocol_of(environ), 400, "InvalidParameterValue", f"The request is malformed: {why}"
    )
    answer: Iterable[bytes] = response(environ, start_response)
    return answer
