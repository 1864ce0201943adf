"""Tenants, their resource associations, their suppression settings and their reputation
entities (SESv2; https://docs.aws.amazon.com/ses/latest/dg/tenants.html)."""

from __future__ import annotations

import time
from typing import Any

from courrier_sandbox.ses import tenant_reputation
from courrier_sandbox.ses.core import Caller, SesCore
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.tenants import (
    MAX_TENANTS,
    POLICIES,
    SENDING_STATUSES,
    Tenant,
    checked_name,
    parse_resource_arn,
    resource_exists,
)


class TenantMethods(SesCore):
    def create_tenant(
        self,
        caller: Caller,
        name: str,
        *,
        tags: dict[str, str],
        suppression: tuple[str | None, list[str] | None],
    ) -> Tenant:
        tenant = Tenant.new(checked_name(name), tags)
        tenant.suppression_scope, tenant.suppressed_reasons = suppression
        with self.lock:
            tenants = self.state(caller).tenants
            if name in tenants:
                raise SesFault("AlreadyExists", f"Tenant {name} already exists.")
            if len(tenants) >= MAX_TENANTS:
                raise SesFault("LimitExceeded", f"Maximum number of tenants ({MAX_TENANTS}).")
            tenants[name] = tenant
        self.changed()
        return tenant

    def tenant(self, caller: Caller, name: str) -> Tenant:
        with self.lock:
            found = self.state(caller).tenants.get(name)
            if found is None:
                raise SesFault("NotFound", f"Tenant {name} does not exist.")
            tenant_reputation.judge(found)
        return found

    def tenants(self, caller: Caller) -> list[Tenant]:
        with self.lock:
            found = list(self.state(caller).tenants.values())
            for tenant in found:
                tenant_reputation.judge(tenant)
        return found

    def delete_tenant(self, caller: Caller, name: str) -> None:
        """Its associations go with it, the resources stay (DeleteTenant), and so do the
        entries of its suppression list (sending-email-suppression-list-tenant-level.html)."""
        with self.lock:
            if self.state(caller).tenants.pop(name, None) is None:
                raise SesFault("NotFound", f"Tenant {name} does not exist.")
        self.changed()

    def associate(self, caller: Caller, name: str, arn: str) -> None:
        kind, resource = parse_resource_arn(arn, account=caller.account, region=caller.region)
        with self.lock:
            state = self.state(caller)
            tenant = self.tenant(caller, name)
            if not resource_exists(state, kind, resource):
                raise SesFault("NotFound", f"Resource {arn} does not exist.")
            if arn in tenant.resources:
                raise SesFault(
                    "AlreadyExists", f"Resource {arn} is already associated with tenant {name}."
                )
            tenant.resources[arn] = time.time()
        self.changed()

    def dissociate(self, caller: Caller, name: str, arn: str) -> None:
        parse_resource_arn(arn, account=caller.account, region=caller.region)
        with self.lock:
            tenant = self.tenant(caller, name)
            if tenant.resources.pop(arn, None) is None:
                raise SesFault("NotFound", f"Resource {arn} is not associated with tenant {name}.")
        self.changed()

    def resource_tenants(self, caller: Caller, arn: str) -> list[tuple[Tenant, float]]:
        """The tenants ``arn`` is associated with, and since when."""
        kind, resource = parse_resource_arn(arn, account=caller.account, region=caller.region)
        with self.lock:
            state = self.state(caller)
            if not resource_exists(state, kind, resource):
                raise SesFault("NotFound", f"Resource {arn} does not exist.")
            return [(t, t.resources[arn]) for t in state.tenants.values() if arn in t.resources]

    def associated_tenants(self, caller: Caller, kind: str, name: str) -> list[str]:
        """The tenants a resource of ``kind`` named ``name`` is associated with (the caller
        holds the lock)."""
        arn = f"arn:aws:ses:{caller.region}:{caller.account}:{kind}/{name}"
        return [t.name for t in self.state(caller).tenants.values() if arn in t.resources]

    def put_tenant_suppression(
        self, caller: Caller, name: str, suppression: tuple[str | None, list[str] | None]
    ) -> None:
        with self.lock:
            tenant = self.tenant(caller, name)
            tenant.suppression_scope, tenant.suppressed_reasons = suppression
        self.changed()

    def tenant_figures(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        """What ``/_courrier/tenants/NAME`` shows: the tenant's reputation as judged now, and
        the counts behind it; None when there is no such tenant."""
        with self.lock:
            state = self.existing_state(account, region)
            tenant = state.tenants.get(name) if state else None
            if tenant is None:
                return None
            tenant_reputation.judge(tenant)
            return {"arn": tenant.arn(region, account), **tenant_reputation.figures(tenant)}

    # ------------------------------------------------------------ reputation entities

    def reputation_entity(self, caller: Caller, entity_type: str, reference: str) -> Tenant:
        """The tenant a reputation entity reference (its ARN) names.

        Only tenants are reputation entities in the sandbox, of the one type botocore knows
        (``RESOURCE``)."""
        if entity_type != "RESOURCE":
            raise SesFault("InvalidParameter", f"Invalid reputation entity type {entity_type}.")
        with self.lock:
            for tenant in self.state(caller).tenants.values():
                if tenant.arn(caller.region, caller.account) == reference:
                    tenant_reputation.judge(tenant)
                    return tenant
        raise SesFault("NotFound", f"Reputation entity {reference} does not exist.")

    def set_reputation_policy(
        self, caller: Caller, entity_type: str, reference: str, policy_arn: str
    ) -> None:
        prefix = f"arn:aws:ses:{caller.region}:aws:reputation-policy/"
        policy = policy_arn.removeprefix(prefix)
        if not policy_arn.startswith(prefix) or policy not in POLICIES:
            raise SesFault("InvalidParameter", f"Invalid reputation policy {policy_arn}.")
        tenant = self._entity_to_update(caller, entity_type, reference)
        with self.lock:
            tenant.policy = policy
            tenant_reputation.judge(tenant)
        self.changed()

    def set_customer_status(
        self, caller: Caller, entity_type: str, reference: str, status: str
    ) -> None:
        if status not in SENDING_STATUSES:
            raise SesFault("InvalidParameter", f"Invalid sending status {status}.")
        tenant = self._entity_to_update(caller, entity_type, reference)
        with self.lock:
            record = tenant.customer_status
            record.status, record.cause, record.updated = (
                status,
                "Status manually updated.",
                time.time(),
            )
            tenant_reputation.judge(tenant)
        self.changed()

    def _entity_to_update(self, caller: Caller, entity_type: str, reference: str) -> Tenant:
        # The two Update operations list no NotFoundException in botocore's model: an
        # unknown entity is a bad request there.
        try:
            return self.reputation_entity(caller, entity_type, reference)
        except SesFault as fault:
            raise SesFault("InvalidParameter", fault.message) from fault
