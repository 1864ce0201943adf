"""SES v1 answers are well-formed XML whatever the strings in them hold."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.parsers import QueryParser
from hypothesis import given
from hypothesis import strategies as st

from courrier_sandbox.aws_errors import Protocol, error_response
from courrier_sandbox.ses.wire import formats

#: Any code point at all: C0 controls, lone surrogates, U+FFFE and U+FFFF included.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=20)
OPERATIONS = sorted(
    name
    for name in formats.service_model("ses").operation_names
    if formats.service_model("ses").operation_model(name).output_shape is not None
)


def filled(shape: Shape, text: str, depth: int = 0) -> Any:
    """A value of ``shape`` with ``text`` in every string."""
    if isinstance(shape, StructureShape):
        return {name: filled(member, text, depth + 1) for name, member in shape.members.items()}
    if isinstance(shape, ListShape):
        return [filled(shape.member, text, depth + 1)]
    if isinstance(shape, MapShape):
        return {text: filled(shape.value, text, depth + 1)}
    scalars: dict[str, Any] = {
        "boolean": True,
        "integer": 1,
        "long": 1,
        "double": 1.5,
        "float": 1.5,
        "timestamp": 0,
        "blob": b"x",
    }
    return scalars.get(shape.type_name, text)


def parsed(operation: OperationModel | None, body: bytes, status: int) -> dict[str, Any]:
    ET.fromstring(body)  # a plain XML 1.0 parser, as well as boto3's own
    response = {"body": body, "headers": {}, "status_code": status}
    # An error is parsed without a shape; botocore's stubs want one all the same.
    shape: Any = operation.output_shape if operation else None
    answer: dict[str, Any] = QueryParser().parse(response, shape)
    return answer


@given(operation_name=st.sampled_from(OPERATIONS), text=ANY_TEXT)
def test_any_string_in_any_answer_parses(operation_name: str, text: str) -> None:
    operation = formats.service_model("ses").operation_model(operation_name)
    assert operation.output_shape is not None
    result = filled(operation.output_shape, text)
    parsed(operation, formats.query_response(operation, result, "id"), 200)


@given(code=ANY_TEXT, message=ANY_TEXT)
def test_any_error_parses(code: str, message: str) -> None:
    answer = parsed(None, formats.query_error(code, message, "id"), 400)
    # The parser drops empty elements; what XML can carry comes back as it was given.
    assert (answer["Error"].get("Message") or "") == formats.xml_text(message)


@given(message=ANY_TEXT)
def test_any_routing_error_parses(message: str) -> None:
    body = error_response(Protocol.QUERY, 400, "InvalidAction", message).get_data()
    assert parsed(None, body, 400)["Error"]["Code"] == "InvalidAction"


@given(text=ANY_TEXT)
def test_a_template_comes_back_as_xml_can_carry_it(text: str) -> None:
    operation = formats.service_model("ses").operation_model("GetTemplate")
    result = {"Template": {"TemplateName": "t", "SubjectPart": text}}
    answer = parsed(operation, formats.query_response(operation, result, "id"), 200)
    assert (answer["Template"].get("SubjectPart") or "") == formats.xml_text(text)
