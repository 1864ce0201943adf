"""Open and click tracking, as SES does it for a configuration set that publishes them.

SES tracks opens when the message's configuration set has an enabled event destination for
``OPEN``, and clicks when it has one for ``CLICK``; v2's ``ConfigurationOverrides.Tracking``
turns either on or off for one message (botocore's sesv2 model). It adds a one-pixel image
at the end of each HTML part and points every ``http(s)`` link of the HTML at its tracking
domain, which records the click and redirects; a link with ``ses:no-track`` is left alone and
``ses:tags="name:value;..."`` becomes the click's ``linkTags``. Plain-text parts are not
changed.

The tracking domain is SES's own (``r.<region>.awstrack.me``), or the configuration set's
``CustomRedirectDomain``. The sandbox stands for SES's: its links go to the sandbox itself
(``/I0/...``, ``/L0/...``, the paths SES uses), and a custom domain keeps its name, so that a
test can follow a link it finds in a delivered copy, or use ``/_courrier/mailbox/ID/open``.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Callable
from html.parser import HTMLParser

from courrier_sandbox.ses.state import ConfigurationSet
from courrier_sandbox.simulation.mail import Mail, TrackedLink
from courrier_sandbox.simulation.outgoing import rewrite

_CLICK = re.compile(r"^/L0/(?P<link>.+)/1/(?P<message>[^/]+)/(?P<index>\d+)$")
_OPEN = re.compile(r"^/I0/(?P<message>[^/]+)/[^/]+$")
_HREF = re.compile(r"""(?P<name>\bhref\s*=\s*)(?P<value>"[^"]*"|'[^']*'|[^\s>]+)""", re.I)
#: The image SES adds for open tracking.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def decide(config: ConfigurationSet | None, overrides: dict[str, str]) -> tuple[bool, bool]:
    """Whether SES tracks the message's opens, and its clicks."""
    tracked = []
    for event_type, override in (
        ("OPEN", "OpenTrackingEnabled"),
        ("CLICK", "ClickTrackingEnabled"),
    ):
        given = overrides.get(override)
        if given is not None:
            tracked.append(given == "ENABLED")
        else:
            tracked.append(config is not None and config.publishes(event_type))
    return tracked[0], tracked[1]


def track(mail: Mail, config: ConfigurationSet | None, endpoint: str) -> None:
    """Rewrite ``mail``'s HTML for the tracking it gets; sets ``outgoing``, ``links``."""
    opens, clicks = decide(config, mail.tracking_overrides)
    if not (opens or clicks) or not mail.raw:
        return
    domain = config.option("TrackingOptions", "CustomRedirectDomain") if config else None
    policy = (config.option("TrackingOptions", "HttpsPolicy") if config else None) or "OPTIONAL"
    links: list[TrackedLink] = []

    def click_url(link: str, tags: dict[str, list[str]]) -> str:
        links.append(TrackedLink(link, tags))
        if domain is None:
            base = endpoint
        else:
            # OPTIONAL and REQUIRE_OPEN_ONLY keep the link's own scheme (botocore's model).
            scheme = "https" if policy == "REQUIRE" else urllib.parse.urlsplit(link).scheme
            base = f"{scheme}://{domain}"
        quoted = urllib.parse.quote(link, safe=":")
        return f"{base}/L0/{quoted}/1/{mail.message_id}/{len(links) - 1}"

    if domain is None:
        pixel = f"{endpoint}/I0/{mail.message_id}/0"
    else:
        pixel = f"{'http' if policy == 'OPTIONAL' else 'https'}://{domain}/I0/{mail.message_id}/0"

    def edit(subtype: str, body: str) -> str:
        if subtype != "html":
            return body
        return rewrite_html(body, click_url if clicks else None, pixel if opens else None)

    mail.outgoing = rewrite(mail.raw, text=edit)
    mail.links = links
    mail.open_tracked = opens


def rewrite_html(
    source: str, click: Callable[[str, dict[str, list[str]]], str] | None, pixel: str | None
) -> str:
    """``source`` with its tracked links replaced by ``click(link, tags)`` and the pixel."""
    if click is not None:
        finder = _Anchors()
        finder.feed(source)
        finder.close()
        starts = _line_starts(source)
        out: list[str] = []
        done = 0
        for (line, column), tag, attrs in finder.anchors:
            offset = starts[line - 1] + column
            href = attrs.get("href") or ""
            if (
                "ses:no-track" in attrs
                or not href.lower().startswith(("http://", "https://"))
                or source[offset : offset + len(tag)] != tag
            ):
                continue
            tracked = html.escape(click(href, _link_tags(attrs.get("ses:tags") or "")))
            replacement = _HREF.sub(_replace_with(tracked), tag, count=1)
            out.append(source[done:offset])
            out.append(replacement)
            done = offset + len(tag)
        out.append(source[done:])
        source = "".join(out)
    if pixel is not None:
        image = (
            f'<img alt="" src="{html.escape(pixel)}" '
            'style="display: none; width: 1px; height: 1px;">'
        )
        closing = source.lower().rfind("</body>")
        source = source + image if closing < 0 else source[:closing] + image + source[closing:]
    return source


def _replace_with(url: str) -> Callable[[re.Match[str]], str]:
    def replace(found: re.Match[str]) -> str:
        return f'{found.group("name")}"{url}"'

    return replace


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[tuple[int, int], str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text = self.get_starttag_text()
        if tag == "a" and text:
            self.anchors.append((self.getpos(), text, dict(attrs)))


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for found in re.finditer("\n", source):
        starts.append(found.end())
    return starts


def _link_tags(text: str) -> dict[str, list[str]]:
    """``ses:tags="campaign:may;part:header;"`` -> ``{"campaign": ["may"], ...}``."""
    tags: dict[str, list[str]] = {}
    for pair in text.split(";"):
        name, colon, value = pair.partition(":")
        if name.strip() and colon:
            tags.setdefault(name.strip(), []).append(value.strip())
    return tags


def parse_click(path: str) -> tuple[str, int] | None:
    """(message id, link index) of a click URL's path."""
    found = _CLICK.match(path)
    return (found.group("message"), int(found.group("index"))) if found else None


def parse_open(path: str) -> str | None:
    found = _OPEN.match(path)
    return found.group("message") if found else None
