"""SES v2 list management: contact lists, their topics, and each contact's preferences.

Plain data (kept by ``--state``) and the rules SES applies to it: a contact's status for a
topic is its own preference, else the topic's default; ``UnsubscribeAll`` opts it out of
every topic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from courrier_sandbox.ses.faults import SesFault

OPT_IN, OPT_OUT = "OPT_IN", "OPT_OUT"
#: The quota of topics in one contact list.
MAX_TOPICS = 20


@dataclass
class Topic:
    name: str
    display_name: str
    default_status: str  # OPT_IN | OPT_OUT
    description: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "TopicName": self.name,
            "DisplayName": self.display_name,
            "Description": self.description,
            "DefaultSubscriptionStatus": self.default_status,
        }


@dataclass
class Contact:
    email: str
    preferences: dict[str, str] = field(default_factory=dict)  # topic -> OPT_IN | OPT_OUT
    unsubscribe_all: bool = False
    attributes: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def status(self, topic: Topic) -> str:
        if self.unsubscribe_all:
            return OPT_OUT
        return self.preferences.get(topic.name, topic.default_status)

    def explicit(self, contact_list: ContactList) -> list[dict[str, str]]:
        return [
            {"TopicName": t.name, "SubscriptionStatus": self.preferences[t.name]}
            for t in contact_list.topics
            if t.name in self.preferences
        ]

    def defaults(self, contact_list: ContactList) -> list[dict[str, str]]:
        return [
            {"TopicName": t.name, "SubscriptionStatus": t.default_status}
            for t in contact_list.topics
            if t.name not in self.preferences
        ]

    def event_preferences(self, contact_list: ContactList) -> dict[str, Any]:
        """Preferences as a Subscription event shows them (``OptIn``/``OptOut``,
        docs/ses.md#event-publishing)."""
        spelled = {OPT_IN: "OptIn", OPT_OUT: "OptOut"}
        return {
            "unsubscribeAll": self.unsubscribe_all,
            "topicSubscriptionStatus": [
                {"topicName": t.name, "subscriptionStatus": spelled[self.status(t)]}
                for t in contact_list.topics
            ],
        }


@dataclass
class ContactList:
    name: str
    topics: list[Topic] = field(default_factory=list)
    description: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    tags: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)

    def topic(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise SesFault("NotFound", f"Topic {name} does not exist in contact list {self.name}.")

    def opted_out(self, address: str, topic_name: str | None) -> bool:
        """Whether SES leaves ``address`` out of a send to this list (and topic)."""
        contact = self.contacts.get(address.lower())
        if contact is None:
            return False
        if contact.unsubscribe_all:
            return True
        return topic_name is not None and contact.status(self.topic(topic_name)) == OPT_OUT

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "topics": [vars(t) for t in self.topics],
            "description": self.description,
            "created": self.created,
            "updated": self.updated,
            "tags": self.tags,
            "contacts": [vars(c) for c in self.contacts.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContactList:
        contacts = [Contact(**c) for c in data.get("contacts", [])]
        return cls(
            name=data["name"],
            topics=[Topic(**t) for t in data.get("topics", [])],
            description=data.get("description"),
            created=data["created"],
            updated=data["updated"],
            tags=dict(data.get("tags", {})),
            contacts={c.email: c for c in contacts},
        )


def topics_from(given: list[dict[str, Any]] | None) -> list[Topic]:
    topics = [
        Topic(
            name=t["TopicName"],
            display_name=t["DisplayName"],
            default_status=t["DefaultSubscriptionStatus"],
            description=t.get("Description"),
        )
        for t in given or []
    ]
    if len(topics) > MAX_TOPICS:
        raise SesFault("InvalidParameter", f"A contact list can have at most {MAX_TOPICS} topics.")
    names = [t.name for t in topics]
    if len(set(names)) != len(names):
        raise SesFault("InvalidParameter", "Topic names must be unique within a contact list.")
    return topics


def preferences_from(
    contact_list: ContactList, given: list[dict[str, str]] | None
) -> dict[str, str]:
    preferences: dict[str, str] = {}
    for item in given or []:
        name = item["TopicName"]
        if name not in {t.name for t in contact_list.topics}:
            raise SesFault(
                "InvalidParameter",
                f"Topic {name} does not exist in contact list {contact_list.name}.",
            )
        preferences[name] = item["SubscriptionStatus"]
    return preferences
