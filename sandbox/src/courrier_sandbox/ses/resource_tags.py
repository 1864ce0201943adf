"""Tags on SES v2 resources: what TagResource accepts, and which resource an ARN names."""

from __future__ import annotations

from typing import Any

from courrier_sandbox.ses.faults import SesFault

#: A resource holds at most 50 tags; keys are 1-128 characters, values 0-256 (botocore).
MAX_TAGS = 50
#: The ARN kinds that carry tags, as ``arn:aws:ses:REGION:ACCOUNT:KIND/NAME`` spells them.
KINDS = ("identity", "configuration-set", "contact-list", "tenant")


def checked(
    given: list[dict[str, Any]] | None, existing: dict[str, str] | None = None
) -> dict[str, str]:
    """``existing`` with ``given`` (``[{"Key", "Value"}]``) over it, or SES's refusal."""
    tags = dict(existing or {})
    for tag in given or []:
        key, value = tag["Key"], tag.get("Value") or ""
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise SesFault(
                "InvalidParameter",
                f"Invalid tag {key!r}: keys are 1 to 128 characters, values at most 256.",
            )
        if key.lower().startswith("aws:"):
            raise SesFault("InvalidParameter", f"Tag keys starting with aws: are reserved: {key}.")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise SesFault("InvalidParameter", f"A resource can have at most {MAX_TAGS} tags.")
    return tags


def wire(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def parse_arn(arn: str, *, account: str, region: str) -> tuple[str, str]:
    """(kind, name) of a resource of the caller's account and region."""
    parts = arn.split(":", 5)
    kind, _, name = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "ses"] or not name:
        raise SesFault("InvalidParameter", f"Invalid ARN: {arn}")
    if kind not in KINDS:
        raise SesFault("InvalidParameter", f"Resource type {kind} cannot be tagged: {arn}")
    if parts[3] != region or parts[4] != account:
        raise SesFault("NotFound", f"Resource not found: {arn}")
    return kind, name
