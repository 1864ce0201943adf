"""AWS-shaped error answers for the routing layer, in the protocol the client speaks.

A client reads an error the way its service's protocol says: query/XML services (SES v1,
SNS, STS, SQS's older query API) an ``<ErrorResponse>``, JSON services (SQS today) a
``__type`` field (plus ``x-amzn-query-error`` for SQS's query-compatible clients), REST-JSON
(SES v2) the ``x-amzn-ErrorType`` header. Answering in the wrong shape would turn a clear
refusal into a parse error on the client side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

from werkzeug.wrappers import Response


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
        ET.SubElement(error, "Message").text = message
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
