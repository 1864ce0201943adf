"""The sandbox's SES: one object shared by the v1 (query) and v2 (REST) wire adapters.

Assembled from one class per concept (:mod:`.identities`, :mod:`.configuration_sets`,
:mod:`.contacts`, :mod:`.tenant_methods`); templates, the account, tags, the send itself and
what happens to a delivered copy afterwards (opens and clicks) are here.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from courrier_sandbox.ses import resource_tags, tracking
from courrier_sandbox.ses.configuration_sets import ConfigurationSetMethods
from courrier_sandbox.ses.contacts import ContactListMethods, add_contacts, unsubscribed
from courrier_sandbox.ses.core import Accepted, Caller, SentMail, SesOptions
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.identities import (
    IdentityMethods,
    default_configuration_set,
    identity_name,
    sending_identity,
)
from courrier_sandbox.ses.send_checks import (
    check_call,
    check_content,
    check_identities,
    check_mail_from,
    check_rate,
)
from courrier_sandbox.ses.state import Account, Suppressed
from courrier_sandbox.ses.templates import Template
from courrier_sandbox.ses.tenant_methods import TenantMethods
from courrier_sandbox.ses.tenants import check_tenant, suppression_settings
from courrier_sandbox.simulation.mail import Mail, contains_eicar
from courrier_sandbox.simulation.simulator import (
    DEFAULT_MAX_DELIVERY_SECONDS,
    Feedback,
    Plan,
    iso,
    plan,
    ses_id,
)

__all__ = ["Accepted", "Caller", "SesOptions", "SesService"]


def suppressed_among(
    listed: dict[str, Suppressed], recipients: list[str], reasons: Collection[str]
) -> set[str]:
    """The recipients on ``listed`` for one of ``reasons``: a send matches an address in any
    case, unlike the list's management calls."""
    on_list = {entry.email.lower() for entry in listed.values() if entry.reason in reasons}
    return {address for address in recipients if address.lower() in on_list}


class SesService(IdentityMethods, ConfigurationSetMethods, ContactListMethods, TenantMethods):
    # ------------------------------------------------------------------ templates

    def put_template(self, caller: Caller, template: Template, *, create: bool) -> None:
        template.check()
        with self.lock:
            templates = self.state(caller).templates
            existing = templates.get(template.name)
            if create and existing is not None:
                raise SesFault("TemplateExists", f"Template {template.name} already exists.")
            if not create:
                if existing is None:
                    raise SesFault("TemplateMissing", f"Template {template.name} does not exist.")
                template.created = existing.created
            templates[template.name] = template
        self.changed()

    def template(self, caller: Caller, name: str) -> Template:
        with self.lock:
            found = self.state(caller).templates.get(name)
        if found is None:
            raise SesFault("TemplateMissing", f"Template {name} does not exist.")
        return found

    def templates(self, caller: Caller) -> list[Template]:
        with self.lock:
            return list(self.state(caller).templates.values())

    def delete_template(self, caller: Caller, name: str, *, missing_ok: bool) -> None:
        with self.lock:
            removed = self.state(caller).templates.pop(name, None)
        if removed is None and not missing_ok:
            raise SesFault("TemplateMissing", f"Template {name} does not exist.")
        self.changed()

    # ------------------------------------------------------------- account and list

    def account(self, caller: Caller) -> tuple[Account, float]:
        with self.lock:
            state = self.state(caller)
            state.prune(time.time())
            return state.account, float(state.daily_total)

    def statistics(self, caller: Caller) -> list[dict[str, Any]]:
        return self.state(caller).statistics.data_points(time.time())

    def update_account(self, caller: Caller, **changes: Any) -> None:
        with self.lock:
            account = self.state(caller).account
            for key, value in changes.items():
                setattr(account, key, value)
        self.changed()

    def _suppression_list(self, caller: Caller, tenant: str | None) -> dict[str, Suppressed]:
        """The account's list, or the tenant's when ``TenantName`` names one
        (docs/ses.md#tenants); the caller holds the lock."""
        if tenant is None:
            return self.state(caller).suppressed
        found = self.state(caller).tenants.get(tenant)
        if found is None:
            raise SesFault("NotFound", f"Tenant {tenant} does not exist.")
        return found.suppressed

    def put_suppressed(
        self,
        caller: Caller,
        address: str,
        reason: str,
        *,
        message_id: str | None = None,
        feedback_id: str | None = None,
        tenant: str | None = None,
    ) -> None:
        if reason not in ("BOUNCE", "COMPLAINT"):
            raise SesFault("InvalidParameter", f"Invalid reason {reason}.")
        # SES keeps an address as given, and its management calls match it case for case
        # (https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html).
        with self.lock:
            self._suppression_list(caller, tenant)[address] = Suppressed(
                address, reason, time.time(), message_id, feedback_id
            )
        self.changed()

    def suppressed(self, caller: Caller, address: str, tenant: str | None = None) -> Suppressed:
        with self.lock:
            found = self._suppression_list(caller, tenant).get(address)
        if found is None:
            raise SesFault(
                "NotFound", f"Email address {address} does not exist on your suppression list."
            )
        return found

    def suppressed_list(
        self, caller: Caller, reasons: list[str] | None, tenant: str | None = None
    ) -> list[Suppressed]:
        with self.lock:
            return [
                s
                for s in self._suppression_list(caller, tenant).values()
                if not reasons or s.reason in reasons
            ]

    def delete_suppressed(self, caller: Caller, address: str, tenant: str | None = None) -> None:
        self.suppressed(caller, address, tenant)
        with self.lock:
            del self._suppression_list(caller, tenant)[address]
        self.changed()

    # ------------------------------------------------------------------------ tags

    def tags(self, caller: Caller, arn: str) -> dict[str, str]:
        """The tags of the resource ``arn`` names (a live dict: change it under the lock)."""
        kind, name = resource_tags.parse_arn(arn, account=caller.account, region=caller.region)
        if kind == "configuration-set":
            return self.configuration_set(caller, name).tags
        if kind == "contact-list":
            return self.contact_list(caller, name).tags
        if kind == "tenant":
            # A tenant's ARN ends in NAME/ID (docs/ses.md#tenants).
            with self.lock:
                tenant = self.state(caller).tenants.get(name.partition("/")[0])
            if tenant is None or tenant.arn(caller.region, caller.account) != arn:
                raise SesFault("NotFound", f"Resource not found: {arn}")
            return tenant.tags
        with self.lock:
            identity = self.state(caller).identities.get(identity_name(name))
        if identity is None:
            raise SesFault("NotFound", f"Resource not found: {arn}")
        return identity.tags

    def tag_resource(self, caller: Caller, arn: str, given: list[dict[str, Any]]) -> None:
        tags = self.tags(caller, arn)
        with self.lock:
            updated = resource_tags.checked(given, tags)
            tags.clear()
            tags.update(updated)
        self.changed()

    def untag_resource(self, caller: Caller, arn: str, keys: list[str]) -> None:
        tags = self.tags(caller, arn)
        with self.lock:
            for key in keys:
                tags.pop(key, None)
        self.changed()

    # ------------------------------------------------------------------------ send

    def send(self, caller: Caller, mail: Mail) -> Accepted:
        """Validate as SES does and accept.

        The feedback is scheduled by ``Accepted.release``, which the wire adapter calls once
        the response has been written: SES feedback never precedes the send's answer.
        """
        state = self.state(caller)
        check_content(caller.api, mail)
        with self.lock:
            if mail.configuration_set is None:
                mail.configuration_set = default_configuration_set(state, mail.source)
            check_call(state, mail.configuration_set)
            check_identities(caller.region, state, mail)
            mail.mail_from_domain = check_mail_from(caller.region, state, mail)
            tenant = check_tenant(caller.region, caller.account, state, mail)
            left_out = unsubscribed(state, mail)
            check_rate(state, mail)
            add_contacts(state, mail)
            mail.message_id = ses_id()
            mail.timestamp = time.time()
            mail.caller = caller.identity
            mail.source_ip = caller.source_ip
            mail.identity = sending_identity(state, mail.source)
            mail.endpoint = caller.endpoint
            mail.region = caller.region
            config = state.configuration_sets.get(mail.configuration_set or "")
            scope, reasons = suppression_settings(state, config, tenant)
            listed = (
                tenant.suppressed if tenant is not None and scope == "TENANT" else state.suppressed
            )
            suppressed = suppressed_among(listed, mail.destinations, reasons)
        if mail.rendering_failure is not None:
            # Accepted, then not sent: one Rendering Failure event (docs/ses.md#event-publishing,
            # #sending-at-volume).
            template_name, error = mail.rendering_failure
            failure = {"templateName": template_name, "errorMessage": error}
            delay = self.options.simulator.delay
            outcome = Plan(feedback=[Feedback("Rendering Failure", failure, delay)])
        else:
            tracking.track(mail, config, caller.endpoint)
            max_delivery = config.option("DeliveryOptions", "MaxDeliverySeconds") if config else 0
            outcome = plan(
                recipients=mail.destinations,
                now=mail.timestamp,
                has_virus=contains_eicar(mail.parsed()),
                account_suppressed=lambda address: scope == "ACCOUNT" and address in suppressed,
                tenant_suppressed=lambda address: scope == "TENANT" and address in suppressed,
                options=self.options.simulator,
                rule_for=self.recipient_rules.match,
                left_out=lambda address: address in left_out,
                max_delivery_seconds=max_delivery or DEFAULT_MAX_DELIVERY_SECONDS,
            )
        origin = caller.origin
        sent = SentMail(state, origin, mail)
        self.remember(sent)
        fulfil = self.scheduler.promise()

        def release() -> None:
            fulfil(lambda: self.router.deliver_plan(state, origin, mail, outcome, self.scheduler))

        return Accepted(mail.message_id, release)

    # -------------------------------------------------------- opens and clicks

    def track_open(self, message_id: str, ip_address: str, user_agent: str) -> None:
        """A recipient's mail client loaded the open pixel: an Open event
        (docs/ses.md#event-publishing)."""
        sent = self.remembered(message_id)
        if sent is None or not sent.mail.open_tracked:
            raise SesFault("NotFound", f"Message {message_id} is not tracked for opens.")
        body = {"ipAddress": ip_address, "timestamp": iso(time.time()), "userAgent": user_agent}
        self._publish_now(sent, "Open", body)

    def track_click(self, message_id: str, index: int, ip_address: str, user_agent: str) -> str:
        """A recipient followed tracked link ``index``: a Click event; the link's URL."""
        sent = self.remembered(message_id)
        if sent is None or not 0 <= index < len(sent.mail.links):
            raise SesFault("NotFound", f"Message {message_id} has no tracked link {index}.")
        link = sent.mail.links[index]
        body: dict[str, Any] = {
            "ipAddress": ip_address,
            "link": link.url,
            "timestamp": iso(time.time()),
            "userAgent": user_agent,
        }
        if link.tags:
            body["linkTags"] = link.tags
        self._publish_now(sent, "Click", body)
        return link.url
