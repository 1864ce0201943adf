"""Configuration sets: event destinations, sending, and the options both APIs set."""

from __future__ import annotations

import time
from typing import Any

from courrier_sandbox.ses.core import Caller, SesCore
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.send_checks import TAG_CHARS
from courrier_sandbox.ses.state import ConfigurationSet, EventDestination
from courrier_sandbox.ses.tenants import refuse_if_associated
from courrier_sandbox.simulation.feedback import EVENT_PUBLISHING_VALIDATED

#: The option groups of v2's CreateConfigurationSet/GetConfigurationSet besides sending.
OPTION_GROUPS = (
    "TrackingOptions",
    "DeliveryOptions",
    "ReputationOptions",
    "SuppressionOptions",
    "VdmOptions",
    "ArchivingOptions",
    "MessageSecurityOptions",
)


class ConfigurationSetMethods(SesCore):
    def create_configuration_set(
        self,
        caller: Caller,
        name: str,
        *,
        options: dict[str, dict[str, Any]] | None = None,
        tags: dict[str, str] | None = None,
        sending_enabled: bool = True,
    ) -> None:
        if not name or len(name) > 64 or not set(name) <= TAG_CHARS:
            raise SesFault(
                "InvalidParameter",
                f"Invalid configuration set name <{name}>: only ASCII letters, digits, "
                "underscores and dashes, at most 64 characters.",
            )
        checked = {
            group: self._checked(caller, group, dict(values))
            for group, values in (options or {}).items()
        }
        with self.lock:
            sets = self.state(caller).configuration_sets
            if name in sets:
                raise SesFault("ConfigSetExists", f"Configuration set <{name}> already exists.")
            sets[name] = ConfigurationSet(
                name=name, sending_enabled=sending_enabled, tags=dict(tags or {}), options=checked
            )
        self.changed()

    def configuration_set(self, caller: Caller, name: str) -> ConfigurationSet:
        with self.lock:
            found = self.state(caller).configuration_sets.get(name)
        if found is None:
            raise SesFault("ConfigSetMissing", f"Configuration set <{name}> does not exist.")
        return found

    def configuration_sets(self, caller: Caller) -> list[ConfigurationSet]:
        with self.lock:
            return list(self.state(caller).configuration_sets.values())

    def delete_configuration_set(self, caller: Caller, name: str) -> None:
        self.configuration_set(caller, name)
        with self.lock:
            state = self.state(caller)
            refuse_if_associated(caller.region, caller.account, state, "configuration-set", name)
            del state.configuration_sets[name]
            # Identities that used it as their default no longer have one.
            for identity in state.identities.values():
                if identity.configuration_set == name:
                    identity.configuration_set = None
        self.changed()

    def put_event_destination(
        self, caller: Caller, set_name: str, destination: EventDestination, *, create: bool
    ) -> None:
        config = self.configuration_set(caller, set_name)
        exists = destination.name in config.destinations
        if create and exists:
            raise SesFault(
                "DestinationExists", f"Event destination {destination.name} already exists."
            )
        if not create and not exists:
            raise SesFault(
                "DestinationMissing", f"Event destination {destination.name} does not exist."
            )
        if create and len(config.destinations) >= 10:
            raise SesFault("LimitExceeded", "Maximum of 10 event destinations reached.")
        if destination.sns_topic_arn and create:
            published = self.router.sns.publish_as_ses(
                account=caller.account,
                region=caller.region,
                topic_arn=destination.sns_topic_arn,
                source_arn=caller.origin.arn("configuration-set", set_name),
                message=EVENT_PUBLISHING_VALIDATED,
                subject=None,
            )
            if published is None:
                # v1 answers InvalidSNSDestination, with this text for a missing topic
                # (recorded against AWS); the botocore model lists no other error for it.
                topic = destination.sns_topic_arn
                exists = self.router.sns.has_topic(region=caller.region, topic_arn=topic)
                raise SesFault(
                    "InvalidSnsDestination",
                    f"Could not publish to SNS topic {topic}."
                    if exists
                    else f"SNS topic {topic} not found.",
                )
        with self.lock:
            config.destinations[destination.name] = destination
        self.changed()

    def delete_event_destination(self, caller: Caller, set_name: str, name: str) -> None:
        config = self.configuration_set(caller, set_name)
        with self.lock:
            if config.destinations.pop(name, None) is None:
                # AWS's text names the set, not the destination (recorded against v1).
                raise SesFault("DestinationMissing", f"No EventDestination found for {set_name}")
        self.changed()

    def set_configuration_set_sending(self, caller: Caller, name: str, enabled: bool) -> None:
        config = self.configuration_set(caller, name)
        with self.lock:
            if enabled and not config.sending_enabled:
                # Sending turned back on gives the set's reputation a fresh start
                # (botocore's ses model, ReputationOptions.LastFreshStart).
                config.options.setdefault("ReputationOptions", {})["LastFreshStart"] = time.time()
            config.sending_enabled = enabled
        self.changed()

    # ------------------------------------------------------------------ options

    def put_options(
        self, caller: Caller, name: str, group: str, values: dict[str, Any] | None
    ) -> None:
        """Set one option group (``TrackingOptions``, ...); None removes it."""
        config = self.configuration_set(caller, name)
        checked = None if values is None else self._checked(caller, group, dict(values))
        with self.lock:
            if checked is None:
                config.options.pop(group, None)
            elif group == "ReputationOptions":
                config.options.setdefault(group, {}).update(checked)
            else:
                config.options[group] = checked
        self.changed()

    def tracking_options(self, caller: Caller, name: str, *, create: bool | None) -> None:
        """v1's rules for tracking options: create only new ones, update or delete old ones."""
        config = self.configuration_set(caller, name)
        exists = "TrackingOptions" in config.options
        if create and exists:
            raise SesFault(
                "TrackingOptionsExist",
                f"Configuration set <{name}> already has tracking options.",
            )
        if not create and not exists:
            raise SesFault(
                "TrackingOptionsMissing",
                f"Configuration set <{name}> has no tracking options.",
            )

    def _checked(self, caller: Caller, group: str, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` as stored: JSON-ready, and refused where SES refuses them."""
        for key, value in list(values.items()):
            if hasattr(value, "timestamp"):
                values[key] = value.timestamp()
        if group == "TrackingOptions" and values.get("CustomRedirectDomain"):
            domain = str(values["CustomRedirectDomain"]).lower().rstrip(".")
            with self.lock:
                names = self.state(caller).identities
                verified = any(
                    n in names and names[n].verified and names[n].kind == "Domain"
                    for n in _domain_and_parents(domain)
                )
            if not verified:
                # The redirect domain must be verified in SES (botocore: InvalidTrackingOptions).
                raise SesFault(
                    "InvalidTrackingOptions",
                    f"Tracking domain <{domain}> is not verified: verify it, or a domain "
                    "it belongs to, first.",
                )
            values["CustomRedirectDomain"] = domain
        seconds = values.get("MaxDeliverySeconds") if group == "DeliveryOptions" else None
        if seconds is not None and not 300 <= seconds <= 50400:
            raise SesFault(
                "InvalidParameter",
                f"MaxDeliverySeconds must be from 300 to 50400, not {seconds}.",
            )
        if group == "DeliveryOptions" and values.get("SendingPoolName"):
            # The sandbox has no dedicated IP pools: every pool name is one that does not exist.
            raise SesFault(
                "InvalidDeliveryOptions",
                f"Dedicated IP pool <{values['SendingPoolName']}> does not exist.",
            )
        return values


def _domain_and_parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]
