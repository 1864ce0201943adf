"""Templates: sends that SES renders (v2 SendEmail), and templates kept as files."""

from __future__ import annotations

import email.utils
import functools
import re
from collections.abc import Callable
from email.header import Header
from pathlib import Path

from courrier.addresses import Address
from courrier.aws.ses import SesClient, StoredTemplate
from courrier.errors import InvalidMessage
from courrier.template_message import TemplateMessage, check_template_name

__all__ = ["api_form", "push_templates", "read_templates", "required_variables", "templated_call"]


def templated_call(
    ses: SesClient,
    message: TemplateMessage,
    *,
    headers: dict[str, str] | None = None,
    list_management: dict[str, str] | None = None,
) -> Callable[[], str]:
    """The v2 SendEmail call with ``Content.Template`` for ``message``.

    SES writes the headers from ``Destination``, so To, Cc and Bcc go separately (a raw
    send carries them in its own headers). A value the template prints that is missing from
    the data is accepted with a message id and not delivered: SES publishes a ``Rendering
    Failure`` event to the configuration set instead (docs/ses.md#sending-at-volume).
    ``headers`` go as ``Template.Headers`` (the unsubscribe headers of a bulk message),
    ``list_management`` as ``ListManagementOptions`` (SES's subscription management).
    """
    feedback = message.feedback_address
    return functools.partial(
        ses.send_templated,
        sender=api_form(message.from_address),
        to=[a.email for a in message.addresses("to")],
        cc=[a.email for a in message.addresses("cc")],
        bcc=[a.email for a in message.addresses("bcc")],
        reply_to=[api_form(a) for a in message.addresses("reply_to")],
        template=message.template,
        data=message.data_json,
        configuration_set=message.configuration_set,
        tags=message.tags,
        feedback_address=feedback.email if feedback is not None else None,
        tenant=message.tenant,
        **({"headers": headers} if headers else {}),
        **({"list_management": list_management} if list_management else {}),
    )


def api_form(address: Address) -> str:
    """``address`` as an API parameter: SES writes it into the header as given, so a
    non-ASCII name goes as RFC 2047 encoded-words, unfolded (docs/ses.md#addresses)."""
    if not address.name:
        return address.email
    if address.name.isascii():
        return email.utils.formataddr((address.name, address.email))
    encoded = Header(address.name, "utf-8").encode(linesep=" ", maxlinelen=10_000)
    return f"{encoded} <{address.email}>"


#: The files of one template directory: the subject (first line), the text and HTML parts.
SUBJECT_FILE, TEXT_FILE, HTML_FILE = "subject.txt", "text.txt", "html.html"


def read_templates(directory: str | Path) -> list[StoredTemplate]:
    """The templates under ``directory``: the directory itself when it holds a
    ``subject.txt``, else each subdirectory that does; each named after its directory."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidMessage(f"{root} is not a directory")
    if (root / SUBJECT_FILE).exists():
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if (p / SUBJECT_FILE).is_file())
    if not folders:
        raise InvalidMessage(
            f"no template in {root}: a template is a directory with {SUBJECT_FILE} and "
            f"{TEXT_FILE} and/or {HTML_FILE}"
        )
    return [_read_template(folder) for folder in folders]


def _read_template(folder: Path) -> StoredTemplate:
    name = check_template_name(folder.resolve().name)

    def part(file: str) -> str | None:
        path = folder / file
        try:
            return path.read_text(encoding="utf-8") if path.is_file() else None
        except UnicodeDecodeError as err:
            raise InvalidMessage(f"{path} is not UTF-8: {err}") from err

    subject_text = part(SUBJECT_FILE) or ""
    lines = subject_text.splitlines() or [""]
    if len([line for line in lines if line.strip()]) > 1:
        raise InvalidMessage(f"{folder / SUBJECT_FILE}: the subject must be one line")
    subject = lines[0].strip()
    if not subject:
        raise InvalidMessage(f"{folder / SUBJECT_FILE} is empty")
    text, html = part(TEXT_FILE), part(HTML_FILE)
    if text is None and html is None:
        raise InvalidMessage(f"template {name} needs {TEXT_FILE} or {HTML_FILE} in {folder}")
    return StoredTemplate(name=name, subject=subject, text=text, html=html)


def push_templates(ses: SesClient, directory: str | Path) -> list[tuple[str, str]]:
    """Create or update every template under ``directory``: (name, created | updated |
    unchanged) for each; pushing the same files again changes nothing."""
    return [(t.name, ses.put_template(t)) for t in read_templates(directory)]


#: One Handlebars expression: ``{{...}}`` or ``{{{...}}}``, comments ``{{!...}}`` and
#: ``{{!--...--}}`` included (matched first so that a ``}}`` inside them does not end them).
_MUSTACHE = re.compile(r"\{\{!--.*?--\}\}|\{\{\{(.*?)\}\}\}|\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*")
_NOT_NAMES = {"this", "else", "true", "false", "null", "undefined"}


def required_variables(template: StoredTemplate) -> frozenset[str]:
    """The top-level names the template prints whatever the data: those without which SES
    sends nothing and publishes a Rendering Failure event instead
    (https://docs.aws.amazon.com/ses/latest/dg/send-personalized-email-api.html).

    Conservative, so that no campaign that would render is refused: only a plain ``{{name}}``
    or ``{{name.field}}`` outside every block counts. Names inside ``{{#if}}``,
    ``{{#unless}}`` (printed only when set) or ``{{#each}}``, ``{{#with}}`` (another
    context), helper calls, ``this``, ``@data`` and ``../`` paths are left alone.
    """
    found: set[str] = set()
    for part in (template.subject, template.text or "", template.html or ""):
        found |= _top_level_names(part)
    return frozenset(found)


def _top_level_names(text: str) -> set[str]:
    names: set[str] = set()
    depth = 0
    for match in _MUSTACHE.finditer(text):
        body = (match.group(1) or match.group(2) or "").strip("~ \t\r\n&")
        if not body or body.startswith("!"):
            continue
        if body[0] in "#^" and len(body) > 1:
            depth += 1
        elif body[0] == "/":
            depth = max(0, depth - 1)
        elif depth == 0 and body[0] not in ">@.[" and len(body.split()) == 1:
            name = _NAME.match(body)
            if name and name.group(0) not in _NOT_NAMES and not body[0].isdigit():
                names.add(name.group(0))
    return names
