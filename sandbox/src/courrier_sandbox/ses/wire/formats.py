"""The AWS wire formats the sandbox speaks, driven by botocore's own service models.

Using the models that boto3 and the AWS CLI are built from means that every member name,
list shape and timestamp format is the one the clients expect, for every operation, without
a hand-written table per action.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from botocore.loaders import create_loader
from botocore.model import (
    ListShape,
    MapShape,
    NoShapeFoundError,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)

SES_XMLNS = "http://ses.amazonaws.com/doc/2010-12-01/"


@functools.cache
def service_model(name: str) -> ServiceModel:
    loader = create_loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


def enum_of(service: str, shape_name: str) -> list[str]:
    shape = service_model(service).shape_for(shape_name)
    return list(shape.enum) if isinstance(shape, StringShape) else []


def missing_member(shape: Shape | None, value: Any, path: str = "") -> str | None:
    """The first required member absent from ``value`` (dotted path), or None."""
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return path or "(request)"
        for name in shape.required_members:
            if value.get(name) is None:
                return f"{path}.{name}" if path else name
        for name, member in shape.members.items():
            if value.get(name) is not None:
                found = missing_member(member, value[name], f"{path}.{name}" if path else name)
                if found:
                    return found
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            found = missing_member(shape.member, item, f"{path}[{index}]")
            if found:
                return found
    return None


# ---------------------------------------------------------------- query protocol (SES v1)


def parse_query(shape: StructureShape | None, params: Mapping[str, str]) -> dict[str, Any]:
    """Decode flattened query parameters (``A.member.1=x``) into a dict for ``shape``."""
    if shape is None:
        return {}
    value = _query_value(shape, params, "")
    return value if isinstance(value, dict) else {}


def _query_value(shape: Shape, params: Mapping[str, str], prefix: str, name: str = "") -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for member_name, member in shape.members.items():
            key = member.serialization.get("name", member_name)
            full = f"{prefix}.{key}" if prefix else key
            value = _query_value(member, params, full, member_name)
            if value is not None:
                out[member_name] = value
        return out if out or not prefix else None
    if isinstance(shape, ListShape):
        items = []
        index = 1
        flattened = shape.serialization.get("flattened", False)
        while True:
            key = f"{prefix}.{index}" if flattened else f"{prefix}.member.{index}"
            value = _query_value(shape.member, params, key)
            if value is None:
                break
            items.append(value)
            index += 1
        if not items and prefix in params and params[prefix] == "":
            return []
        return items or None
    if isinstance(shape, MapShape):
        mapping: dict[str, Any] = {}
        index = 1
        while f"{prefix}.entry.{index}.key" in params:
            key = params[f"{prefix}.entry.{index}.key"]
            mapping[key] = _query_value(shape.value, params, f"{prefix}.entry.{index}.value")
            index += 1
        return mapping or None
    if prefix not in params:
        return None
    return _scalar_from_text(shape, params[prefix], name)


def _scalar_from_text(shape: Shape, text: str, where: str = "") -> Any:
    kind = shape.type_name
    _check_enum(shape, text, where or shape.name)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{shape.name} must be true or false, not {text!r}")
        return text.lower() == "true"
    if kind in ("integer", "long"):
        return int(text)
    if kind in ("double", "float"):
        return float(text)
    if kind == "blob":
        return base64.b64decode(text, validate=True)
    if kind == "timestamp":
        return parse_timestamp(text)
    return text


class InvalidValue(ValueError):
    """A value the model's constraints refuse, in AWS's validation words."""


class InvalidEnum(InvalidValue):
    """A value outside its enum: v1 answers ``ValidationError``, v2 ``BadRequestException``."""

    def __init__(self, message: str, *, member: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.member = member
        self.value = value


def _check_enum(shape: Shape, value: Any, where: str) -> None:
    allowed = shape.enum if isinstance(shape, StringShape) else None
    if allowed and value not in allowed:
        # AWS's own validation text for enum members.
        member = where.rpartition(".")[2]
        member = member[:1].lower() + member[1:]
        raise InvalidEnum(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]",
            member=member,
            value=value,
        )


def parse_timestamp(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(text), tz=dt.UTC)
    except ValueError:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def query_response(operation: OperationModel, result: Mapping[str, Any], request_id: str) -> bytes:
    root = ET.Element(f"{operation.name}Response", xmlns=SES_XMLNS)
    output = operation.output_shape
    wrapper = output.serialization.get("resultWrapper") if output is not None else None
    if output is not None:
        target = ET.SubElement(root, wrapper) if wrapper else root
        _xml_members(target, output, result)
    meta = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(meta, "RequestId").text = request_id
    return _xml_bytes(root)


def query_error(code: str, message: str, request_id: str, *, sender: bool = True) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=SES_XMLNS)
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if sender else "Receiver"
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestId").text = request_id
    return _xml_bytes(root)


#: What XML 1.0 cannot carry in any form, not even as a character reference: C0 controls other
#: than tab, LF and CR, lone surrogates, U+FFFE and U+FFFF (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` with every character XML 1.0 cannot carry written as U+FFFD.

    Most such values are refused where they come in (identities, template names); what cannot
    be refused, such as a template rendered with the data of the request, still reaches a v1
    client: one replaced character is better than an answer no client can parse.
    """
    return _NOT_XML.sub("\ufffd", value)


def _xml_bytes(root: ET.Element) -> bytes:
    for element in root.iter():
        if element.text:
            element.text = xml_text(element.text)
    # An XML parser turns a literal CR LF into LF, so AWS sends CR as a character
    # reference; without it a template's or a rendered message's CRLF reads back as LF.
    # ElementTree writes no CR of its own, so every CR here comes from a value.
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False)).replace(
        b"\r", b"&#13;"
    )


def _xml_members(parent: ET.Element, shape: StructureShape, value: Mapping[str, Any]) -> None:
    for name, member in shape.members.items():
        if name not in value or value[name] is None:
            continue
        tag = member.serialization.get("name", name)
        if isinstance(member, ListShape) and member.serialization.get("flattened"):
            for item in value[name]:
                _xml_value(ET.SubElement(parent, tag), member.member, item)
        else:
            _xml_value(ET.SubElement(parent, tag), member, value[name])


def _xml_value(element: ET.Element, shape: Shape, value: Any) -> None:
    if isinstance(shape, StructureShape):
        _xml_members(element, shape, value)
    elif isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        for item in value:
            _xml_value(ET.SubElement(element, tag), shape.member, item)
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            ET.SubElement(entry, "key").text = str(key)
            _xml_value(ET.SubElement(entry, "value"), shape.value, item)
    else:
        element.text = _scalar_to_text(shape, value)


def _scalar_to_text(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        return _as_datetime(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if shape.type_name == "blob":
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


# ---------------------------------------------------------------- rest-json protocol (SES v2)


@dataclass(frozen=True)
class RestRoute:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal_segments: int
    #: An older URI of the operation, whose body members travel in the query string.
    members_in_query: bool = False


#: URIs that older SDKs and CLIs still call: older sesv2 models had these two list
#: operations as GETs with ``NextToken``/``PageSize`` in the query string.
OLDER_URIS = {
    "sesv2": {
        "ListConfigurationSets": ("GET", "/v2/email/configuration-sets"),
        "ListEmailIdentities": ("GET", "/v2/email/identities"),
    }
}


def _route(operation: OperationModel, method: str, uri: str, *, older: bool) -> RestRoute:
    regex = ""
    literal = 0
    for part in uri.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"/(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"/(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += "/" + re.escape(part)
            literal += 1
    return RestRoute(operation, method, re.compile(f"^{regex}/?$"), literal, older)


@functools.cache
def rest_routes(service: str) -> tuple[RestRoute, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"].split("?", 1)[0]
        routes.append(_route(operation, operation.http["method"], uri, older=False))
    for name, (method, uri) in OLDER_URIS.get(service, {}).items():
        routes.append(_route(model.operation_model(name), method, uri, older=True))
    # Prefer the most specific template when two match the same path.
    return tuple(sorted(routes, key=lambda route: -route.literal_segments))


def match_rest_route(
    service: str, method: str, path: str
) -> tuple[RestRoute, dict[str, str]] | None:
    for route in rest_routes(service):
        if route.method != method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, {key: unquote(value) for key, value in found.groupdict().items()}
    return None


def parse_rest_input(
    route: RestRoute,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: bytes,
) -> dict[str, Any]:
    shape = route.operation.input_shape
    if shape is None:
        return {}
    decoded: Any = json.loads(body) if body.strip() else {}
    if not isinstance(decoded, dict):
        raise ValueError("request body must be a JSON object")
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in path_params:
                out[name] = _scalar_from_text(member, path_params[wire], name)
        elif location == "querystring":
            if wire in query:
                if isinstance(member, ListShape):
                    out[name] = [_scalar_from_text(member.member, v, name) for v in query[wire]]
                else:
                    out[name] = _scalar_from_text(member, query[wire][0], name)
        elif location is None and name in decoded:
            out[name] = _json_in(member, decoded[name], name)
        elif location is None and route.members_in_query and wire in query:
            out[name] = _scalar_from_text(member, query[wire][0], name)
    in_body = {n: v for n, v in out.items() if not shape.members[n].serialization.get("location")}
    _check_constraints(shape, in_body)
    return out


def _check_constraints(shape: StructureShape, value: dict[str, Any]) -> None:
    """Refuse what the model's min, max and pattern traits refuse, every failure at once, as
    AWS's request validation does (its "N validation errors detected" text)."""
    problems = _violations(shape, value, "")
    if problems:
        count = len(problems)
        noun = "validation error" if count == 1 else "validation errors"
        raise InvalidValue(f"{count} {noun} detected: {'; '.join(problems)}")


def _violations(shape: Shape, value: Any, path: str) -> list[str]:
    problems = [
        f"{_shown(shape, value)} at '{path}' failed to satisfy constraint: {broken}"
        for broken in _broken_constraints(shape, value)
    ]
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if value.get(name) is not None:
                member_path = _aws_member(name) if not path else f"{path}.{_aws_member(name)}"
                problems += _violations(member, value[name], member_path)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value, start=1):
            problems += _violations(shape.member, item, f"{path}.{index}.member")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            problems += _violations(shape.value, item, f"{path}.{key}.member")
    return problems


def _aws_member(name: str) -> str:
    """A member as AWS's validation names it: ``Content`` -> ``content``."""
    return name[:1].lower() + name[1:]


def _shown(shape: Shape, value: Any) -> str:
    # A sensitive member's value is not echoed back.
    if shape.metadata.get("sensitive"):
        return "Value"
    if isinstance(value, bytes):
        return f"Value '{len(value)} bytes'"
    return f"Value '{value}'"


def _broken_constraints(shape: Shape, value: Any) -> list[str]:
    rules = shape.metadata
    broken: list[str] = []
    if shape.type_name in ("integer", "long", "double", "float"):
        if "min" in rules and value < rules["min"]:
            broken.append(f"Member must have value greater than or equal to {rules['min']}")
        if "max" in rules and value > rules["max"]:
            broken.append(f"Member must have value less than or equal to {rules['max']}")
        return broken
    if not isinstance(value, str | bytes | list | dict):
        return broken
    if "min" in rules and len(value) < rules["min"]:
        broken.append(f"Member must have length greater than or equal to {rules['min']}")
    if "max" in rules and len(value) > rules["max"]:
        broken.append(f"Member must have length less than or equal to {rules['max']}")
    pattern = rules.get("pattern")
    if pattern and isinstance(value, str) and not _full_match(pattern, value):
        broken.append(f"Member must satisfy regular expression pattern: {pattern}")
    return broken


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java construct Python's re lacks: not checked
        return None


def _full_match(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    # Java's matches(), which AWS's validation uses: the whole value, anchors or not.
    return compiled is None or compiled.fullmatch(value) is not None


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "double": (int, float),
    "float": (int, float),
}


def _json_in(shape: Shape, value: Any, path: str = "") -> Any:
    """``value`` checked against ``shape``: a value of the wrong JSON type is refused."""
    where = path or shape.name
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object")
        return {
            name: _json_in(member, value[name], f"{path}.{name}" if path else name)
            for name, member in shape.members.items()
            if name in value
        }
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list")
        return [_json_in(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object")
        return {key: _json_in(shape.value, item, f"{where}.{key}") for key, item in value.items()}
    if shape.type_name in ("blob", "timestamp") and not isinstance(value, str | int | float):
        raise ValueError(f"{where} has the wrong type")
    if shape.type_name == "blob":
        return base64.b64decode(value, validate=True)
    if shape.type_name == "timestamp":
        return parse_timestamp(str(value))
    expected = _JSON_TYPES.get(shape.type_name)
    # bool is an int in Python, but not a number in JSON.
    wrong_bool = isinstance(value, bool) and shape.type_name != "boolean"
    if expected is not None and (wrong_bool or not isinstance(value, expected)):
        raise ValueError(f"{where} must be a {shape.type_name}")
    _check_enum(shape, value, where)
    return value


def rest_output(operation: OperationModel, result: Mapping[str, Any]) -> dict[str, Any]:
    shape = operation.output_shape
    if shape is None:
        return {}
    out = _json_out(shape, result)
    return out if isinstance(out, dict) else {}


def _json_out(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        return {
            name: _json_out(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if isinstance(shape, ListShape):
        return [_json_out(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: _json_out(shape.value, item) for key, item in value.items()}
    if shape.type_name == "blob":
        return base64.b64encode(value).decode("ascii")
    if shape.type_name == "timestamp":
        return _as_datetime(value).timestamp()
    return value


def rest_error_status(service: str, code: str) -> int:
    model = service_model(service)
    try:
        shape = model.shape_for(code)
    except NoShapeFoundError:
        return 400
    status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    return int(status)
