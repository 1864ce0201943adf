"""Pages of SES List* answers: v1 ``MaxItems``/``NextToken``, v2 ``PageSize``/``NextToken``.

Page sizes come from botocore's model documentation where AWS states them; where it does
not, the sandbox uses a default of 100 and a maximum of 1000 (the bounds AWS states for
``ListIdentities`` and ``ListEmailIdentities``), so that a client which forgets to follow
``NextToken`` finds out against the sandbox too. Lists are ordered by name and a token names
the last item of its page: a page never repeats or skips an item that was there before the
listing started, whatever is added or deleted in between.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from courrier_sandbox.ses.faults import SesFault

T = TypeVar("T")


@dataclass(frozen=True)
class PageRule:
    default: int
    maximum: int
    minimum: int = 1
    #: Larger sizes are cut to the maximum instead of refused (v1 ``ListTemplates``).
    clamp: bool = False


#: Sizes by (API, operation).
RULES = {
    # "Possible values are 1-1000 inclusive."
    ("v1", "ListIdentities"): PageRule(default=100, maximum=1000),
    ("v1", "ListConfigurationSets"): PageRule(default=100, maximum=1000),
    # "at least 1 and less than or equal to 100 ... more than 100 ... set to 100 ... 10 is
    # the default page size."
    ("v1", "ListTemplates"): PageRule(default=10, maximum=100, clamp=True),
    # "at least 0, and can be no more than 1000."
    ("v2", "ListEmailIdentities"): PageRule(default=100, maximum=1000, minimum=0),
    ("v2", "ListConfigurationSets"): PageRule(default=100, maximum=1000),
    ("v2", "ListSuppressedDestinations"): PageRule(default=100, maximum=1000),
    ("v2", "ListContactLists"): PageRule(default=100, maximum=1000),
    ("v2", "ListContacts"): PageRule(default=100, maximum=1000),
    # "at least 1, and can be no more than 100." (default as v1 ListTemplates states)
    ("v2", "ListEmailTemplates"): PageRule(default=10, maximum=100),
    # The tenant lists state no bounds: the module's defaults.
    ("v2", "ListTenants"): PageRule(default=100, maximum=1000),
    ("v2", "ListTenantResources"): PageRule(default=100, maximum=1000),
    ("v2", "ListResourceTenants"): PageRule(default=100, maximum=1000),
    ("v2", "ListReputationEntities"): PageRule(default=100, maximum=1000),
}


def page(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    api: str,
    operation: str,
    size: int | None,
    token: str | None,
    size_name: str,
    token_fault: str = "InvalidNextToken",
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token for the next one (None on the last page)."""
    rule = RULES[(api, operation)]
    if size is None or (size == 0 and rule.minimum == 0):
        # ListEmailIdentities takes 0 ("at least 0", botocore's model) without saying what it
        # returns; an empty page with a NextToken would never move on and spin a client's
        # ``while NextToken`` loop, so 0 reads as no size given.
        size = rule.default
    elif size > rule.maximum and rule.clamp:
        size = rule.maximum
    elif not rule.minimum <= size <= rule.maximum:
        member = size_name[:1].lower() + size_name[1:]
        raise SesFault(
            "Validation",
            f"1 validation error detected: Value '{size}' at '{member}' failed to satisfy "
            f"constraint: Member must have value between {rule.minimum} and {rule.maximum}",
        )
    ordered = sorted(items, key=key)
    if token:
        after = _decode(token, f"{api}:{operation}", token_fault)
        ordered = [item for item in ordered if key(item) > after]
    chosen = ordered[:size]
    if len(ordered) <= size:
        return chosen, None
    return chosen, _encode(f"{api}:{operation}", key(chosen[-1]))


def _encode(operation: str, after: str) -> str:
    raw = json.dumps({"op": operation, "after": after}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode(token: str, operation: str, fault: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if data["op"] == operation and isinstance(data["after"], str):
            after: str = data["after"]
            return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        pass
    raise SesFault(fault, f"Invalid NextToken: {token[:100]}")
