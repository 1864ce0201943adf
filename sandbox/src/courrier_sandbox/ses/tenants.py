"""SES tenants (SESv2, July 2025): resources grouped per customer, checked on each send.

A tenant names the identities, configuration sets and templates it may send with; a send
that names a tenant (``TenantName``) is refused unless every resource it uses is associated
with it, and unless its reputation entity lets it send
(https://docs.aws.amazon.com/ses/latest/dg/tenants.html). Each tenant has its own
reputation entity (:mod:`.tenant_reputation`) and, when its suppression scope is ``TENANT``,
its own suppression list
(https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list-tenant-level.html).
Shapes, required members and errors follow botocore's sesv2 model.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from courrier_sandbox.ses import tenant_reputation
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.simulation.mail import Mail, bare_address

if TYPE_CHECKING:  # state.py keeps tenants in each region's state
    from courrier_sandbox.ses.state import ConfigurationSet, RegionState, Suppressed

#: "up to 64 alphanumeric characters, including letters, numbers, hyphens (-) and
#: underscores (_) only" (CreateTenant, botocore's model).
TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The quota of tenants per account and region (tenants.html#limitations).
MAX_TENANTS = 10_000
#: The ARN kinds a tenant can be associated with, and the ``ResourceType`` each lists as.
RESOURCE_TYPES = {
    "identity": "EMAIL_IDENTITY",
    "configuration-set": "CONFIGURATION_SET",
    "template": "EMAIL_TEMPLATE",
}
#: The AWS-managed reputation policies; a new tenant gets ``standard``
#: (tenants.html#configuring-reputation-policies).
POLICIES = ("standard", "strict", "none")
DEFAULT_POLICY = "standard"
SENDING_STATUSES = ("ENABLED", "REINSTATED", "DISABLED")
SCOPES = ("ACCOUNT", "TENANT")
REASONS = ("BOUNCE", "COMPLAINT")


@dataclass
class StatusRecord:
    """A reputation entity's customer-managed or AWS-managed status (``StatusRecord``)."""

    status: str = "ENABLED"
    cause: str | None = None
    updated: float = field(default_factory=time.time)

    def wire(self) -> dict[str, Any]:
        return {"Status": self.status, "Cause": self.cause, "LastUpdatedTimestamp": self.updated}


@dataclass
class Tenant:
    name: str
    tenant_id: str
    created: float = field(default_factory=time.time)
    tags: dict[str, str] = field(default_factory=dict)
    #: Associated resources: ARN -> when the association was made.
    resources: dict[str, float] = field(default_factory=dict)
    #: ``SuppressionAttributes``: None until set (the account's list and reasons apply).
    suppression_scope: str | None = None
    suppressed_reasons: list[str] | None = None
    #: The tenant's own suppression list (used while its scope is ``TENANT``).
    suppressed: dict[str, Suppressed] = field(default_factory=dict)
    #: The reputation entity: its policy (a name of :data:`POLICIES`), its two status
    #: records, and the impact of its highest open finding (``LOW`` | ``HIGH`` | None).
    policy: str = DEFAULT_POLICY
    customer_status: StatusRecord = field(default_factory=StatusRecord)
    aws_status: StatusRecord = field(default_factory=StatusRecord)
    impact: str | None = None
    #: Counted traffic, never persisted: (when, delivery attempts, hard bounces, complaints).
    traffic: deque[tuple[float, int, int, int]] = field(
        default_factory=deque, repr=False, compare=False
    )

    @classmethod
    def new(cls, name: str, tags: dict[str, str]) -> Tenant:
        # Tenant ids as AWS shows them: "tn-" and 29 hexadecimal digits (tenants.html).
        return cls(name=name, tenant_id="tn-" + secrets.token_hex(15)[:29], tags=tags)

    def arn(self, region: str, account: str) -> str:
        """``arn:aws:ses:REGION:ACCOUNT:tenant/NAME/ID``, the reputation entity's reference."""
        return f"arn:aws:ses:{region}:{account}:tenant/{self.name}/{self.tenant_id}"

    @property
    def sending_status(self) -> str:
        """``SendingStatusAggregate``: DISABLED when either status is; REINSTATED when the
        customer reinstated it; else ENABLED (ReputationEntity, botocore's model)."""
        if "DISABLED" in (self.customer_status.status, self.aws_status.status):
            return "DISABLED"
        if self.customer_status.status == "REINSTATED":
            return "REINSTATED"
        return "ENABLED"

    def suppression_wire(self) -> dict[str, Any] | None:
        if self.suppression_scope is None and self.suppressed_reasons is None:
            return None
        return {
            "SuppressedReasons": list(self.suppressed_reasons or []),
            "SuppressionScope": self.suppression_scope or "ACCOUNT",
        }

    def to_json(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "traffic"
        }
        data["suppressed"] = [dataclasses.asdict(s) for s in self.suppressed.values()]
        data["customer_status"] = dataclasses.asdict(self.customer_status)
        data["aws_status"] = dataclasses.asdict(self.aws_status)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tenant:
        from courrier_sandbox.ses.state import Suppressed

        data = dict(data)
        suppressed = [Suppressed(**s) for s in data.pop("suppressed", [])]
        tenant = cls(
            **data
            | {
                "customer_status": StatusRecord(**data["customer_status"]),
                "aws_status": StatusRecord(**data["aws_status"]),
            }
        )
        tenant.suppressed = {s.email: s for s in suppressed}
        return tenant


def checked_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise SesFault(
            "InvalidParameter",
            f"Invalid tenant name {name!r}: up to 64 letters, digits, hyphens and underscores.",
        )
    return name


def checked_suppression(given: dict[str, Any] | None) -> tuple[str | None, list[str] | None]:
    """(scope, reasons) of ``SuppressionAttributes``: both or neither
    (sending-email-suppression-list-tenant-level.html: "You must provide SuppressionScope and
    SuppressedReasons together, or set both to null")."""
    given = given or {}
    scope, reasons = given.get("SuppressionScope"), given.get("SuppressedReasons")
    if (scope is None) != (reasons is None):
        raise SesFault(
            "InvalidParameter", "SuppressionScope and SuppressedReasons must be given together."
        )
    if scope is not None and scope not in SCOPES:
        raise SesFault("InvalidParameter", f"Invalid SuppressionScope {scope}.")
    for reason in reasons or []:
        if reason not in REASONS:
            raise SesFault("InvalidParameter", f"Invalid suppressed reason {reason}.")
    return scope, None if reasons is None else list(dict.fromkeys(reasons))


def parse_resource_arn(arn: str, *, account: str, region: str) -> tuple[str, str]:
    """(kind, name) of an identity, configuration set or template of the caller's account."""
    parts = arn.split(":", 5)
    kind, _, name = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "ses"] or not name:
        raise SesFault("InvalidParameter", f"Invalid resource ARN: {arn}")
    if kind not in RESOURCE_TYPES:
        raise SesFault(
            "InvalidParameter",
            f"Resource type {kind} cannot be associated with a tenant: {arn}",
        )
    if parts[3] != region or parts[4] != account:
        raise SesFault("NotFound", f"Resource not found: {arn}")
    return kind, name


def resource_exists(state: RegionState, kind: str, name: str) -> bool:
    if kind == "identity":
        local, at, domain = name.strip().rpartition("@")
        return f"{local}{at}{domain.lower()}" in state.identities
    if kind == "configuration-set":
        return name in state.configuration_sets
    return name in state.templates


def resource_arn(region: str, account: str, kind: str, name: str) -> str:
    return f"arn:aws:ses:{region}:{account}:{kind}/{name}"


def check_tenant(region: str, account: str, state: RegionState, mail: Mail) -> Tenant | None:
    """The tenant a send names, or SES's refusal.

    "With each send request, SES validates that the specified tenant has permission to use the
    identity, configuration set, and template in the request. If the resources aren't properly
    associated, the send request fails" (tenants.html#resource-association), and a tenant send
    needs a configuration set associated with the tenant, named or the identity's default
    (tenants.html#limitations). AWS documents neither error code: the sandbox answers an
    unknown tenant with NotFoundException (as for any missing resource a send names), a
    resource that is not associated with BadRequestException, and a paused tenant with
    SendingPausedException (as a paused configuration set). The caller holds the lock and has
    already resolved the identity's default configuration set.
    """
    if mail.tenant is None:
        return None
    tenant = state.tenants.get(mail.tenant)
    if tenant is None:
        raise SesFault("TenantMissing", f"Tenant {mail.tenant} does not exist.")
    tenant_reputation.judge(tenant)
    if tenant.sending_status == "DISABLED":
        raise SesFault("TenantPaused", f"Sending paused for tenant {tenant.name}.")

    def refuse(what: str) -> SesFault:
        return SesFault(
            "TenantResourceNotAssociated",
            f"{what} is not associated with tenant {tenant.name}.",
        )

    if not mail.configuration_set:
        raise refuse("A configuration set")
    config_arn = resource_arn(region, account, "configuration-set", mail.configuration_set)
    if config_arn not in tenant.resources:
        raise refuse(f"Configuration set {mail.configuration_set}")
    covering = [
        resource_arn(region, account, "identity", i.name)
        for i in state.identities_for(bare_address(mail.source))
    ]
    if not any(arn in tenant.resources for arn in covering):
        raise refuse(f"Identity {bare_address(mail.source)}")
    template = mail.template
    if template and resource_arn(region, account, "template", template) not in tenant.resources:
        raise refuse(f"Template {template}")
    return tenant


def suppression_settings(
    state: RegionState, config: ConfigurationSet | None, tenant: Tenant | None
) -> tuple[str, list[str]]:
    """(scope, reasons) a send's suppression follows: the configuration set's own settings,
    else the tenant's, else the account's, scope and reasons each on its own
    (docs/ses.md#tenants)."""
    own_scope = config.option("SuppressionOptions", "SuppressionScope") if config else None
    own_reasons = config.suppressed_reasons if config else None
    scope = own_scope or (tenant.suppression_scope if tenant else None) or "ACCOUNT"
    if own_reasons is not None:
        reasons = own_reasons
    elif tenant is not None and tenant.suppressed_reasons is not None:
        reasons = list(tenant.suppressed_reasons)
    else:
        reasons = list(state.account.suppressed_reasons)
    # A send through no tenant has no tenant list to use.
    return ("ACCOUNT" if tenant is None else scope), reasons


def refuse_if_associated(
    region: str, account: str, state: RegionState, kind: str, name: str
) -> None:
    """Refuse to delete an identity or configuration set a tenant still uses: "Any attempt to
    delete an identity or configuration set that is associated with a tenant will fail"
    (docs/ses.md#tenants); AWS documents no error code, the sandbox answers a bad request.
    The caller holds the lock."""
    arn = resource_arn(region, account, kind, name)
    users = sorted(t.name for t in state.tenants.values() if arn in t.resources)
    if users:
        raise SesFault(
            "InvalidParameter",
            f"{arn} is associated with tenants {', '.join(users)}: remove the associations first.",
        )
