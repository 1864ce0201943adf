"""Contact lists and contacts (v2 list management), and the unsubscribe links of sends."""

from __future__ import annotations

import time
from typing import Any

from courrier_sandbox.ses.contact_lists import (
    OPT_OUT,
    Contact,
    ContactList,
    preferences_from,
    topics_from,
)
from courrier_sandbox.ses.core import Caller, SentMail, SesCore
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.send_checks import check_address
from courrier_sandbox.ses.state import RegionState
from courrier_sandbox.simulation.mail import Mail, bare_address
from courrier_sandbox.simulation.simulator import iso

#: SES's quota of contact lists per account and region.
MAX_CONTACT_LISTS = 1
#: ``subscription.source`` of a Subscription event: a one-click unsubscribe from the
#: ``List-Unsubscribe`` header, and a change made on the page the body's link opens.
HEADER_SOURCE = "UnsubscribeHeader"
LINK_SOURCE = "UnsubscribeLink"


class ContactListMethods(SesCore):
    def create_contact_list(
        self,
        caller: Caller,
        name: str,
        *,
        topics: list[dict[str, Any]] | None,
        description: str | None,
        tags: dict[str, str],
    ) -> None:
        contact_list = ContactList(
            name=name, topics=topics_from(topics), description=description, tags=tags
        )
        with self.lock:
            lists = self.state(caller).contact_lists
            if name in lists:
                raise SesFault("AlreadyExists", f"List with name {name} already exists.")
            if len(lists) >= MAX_CONTACT_LISTS:
                raise SesFault(
                    "LimitExceeded",
                    f"Maximum number of contact lists ({MAX_CONTACT_LISTS}) reached.",
                )
            lists[name] = contact_list
        self.changed()

    def contact_list(self, caller: Caller, name: str) -> ContactList:
        with self.lock:
            found = self.state(caller).contact_lists.get(name)
        if found is None:
            raise SesFault("NotFound", f"List with name {name} does not exist.")
        return found

    def contact_lists(self, caller: Caller) -> list[ContactList]:
        with self.lock:
            return list(self.state(caller).contact_lists.values())

    def update_contact_list(
        self,
        caller: Caller,
        name: str,
        *,
        topics: list[dict[str, Any]] | None,
        description: str | None,
    ) -> None:
        contact_list = self.contact_list(caller, name)
        new_topics = topics_from(topics)
        with self.lock:
            # A complete replacement (botocore's model); preferences for topics that are
            # gone go with them.
            contact_list.topics = new_topics
            contact_list.description = description
            contact_list.updated = time.time()
            names = {t.name for t in new_topics}
            for contact in contact_list.contacts.values():
                contact.preferences = {k: v for k, v in contact.preferences.items() if k in names}
        self.changed()

    def delete_contact_list(self, caller: Caller, name: str) -> None:
        self.contact_list(caller, name)
        with self.lock:
            del self.state(caller).contact_lists[name]
        self.changed()

    # ------------------------------------------------------------------ contacts

    def put_contact(
        self,
        caller: Caller,
        list_name: str,
        address: str,
        *,
        create: bool,
        preferences: list[dict[str, str]] | None,
        unsubscribe_all: bool | None,
        attributes: str | None,
    ) -> None:
        contact_list = self.contact_list(caller, list_name)
        check_address(address)
        key = bare_address(address).lower()
        chosen = preferences_from(contact_list, preferences)
        with self.lock:
            existing = contact_list.contacts.get(key)
            if create and existing is not None:
                raise SesFault("AlreadyExists", f"Contact already exists in list {list_name}.")
            if not create and existing is None:
                raise SesFault("NotFound", f"Contact {address} does not exist in list {list_name}.")
            contact = existing or Contact(email=key)
            contact.preferences = chosen
            contact.unsubscribe_all = bool(unsubscribe_all)
            contact.attributes = attributes
            contact.updated = time.time()
            contact_list.contacts[key] = contact
        self.changed()

    def contact(self, caller: Caller, list_name: str, address: str) -> tuple[ContactList, Contact]:
        contact_list = self.contact_list(caller, list_name)
        with self.lock:
            found = contact_list.contacts.get(bare_address(address).lower())
        if found is None:
            raise SesFault("NotFound", f"Contact {address} does not exist in list {list_name}.")
        return contact_list, found

    def delete_contact(self, caller: Caller, list_name: str, address: str) -> None:
        contact_list, contact = self.contact(caller, list_name, address)
        with self.lock:
            del contact_list.contacts[contact.email]
        self.changed()

    def list_management(
        self, caller: Caller, given: dict[str, Any] | None
    ) -> tuple[str, str | None] | None:
        """A send's ``ListManagementOptions``, checked: the list and topic must exist."""
        if not given:
            return None
        contact_list = self.contact_list(caller, given["ContactListName"])
        topic = given.get("TopicName")
        if topic is not None:
            contact_list.topic(topic)
        return contact_list.name, topic

    # ----------------------------------------------------------------- unsubscribe

    def preferences_page(self, message_id: str, recipient: str) -> dict[str, Any]:
        """What the page behind a message's unsubscribe link shows."""
        sent, list_name, topic = self._listed(message_id)
        with self.lock:
            contact_list = sent.state.contact_lists.get(list_name)
            if contact_list is None:
                raise SesFault("NotFound", f"List with name {list_name} does not exist.")
            contact = contact_list.contacts.get(recipient.lower()) or Contact(email=recipient)
            return {
                "contact_list": list_name,
                "topic": topic,
                "email_address": recipient.lower(),
                **contact.event_preferences(contact_list),
            }

    def unsubscribe(
        self,
        message_id: str,
        recipient: str,
        *,
        source: str,
        topics: dict[str, str] | None = None,
        unsubscribe_all: bool | None = None,
    ) -> dict[str, Any]:
        """Change a recipient's preferences through a message's link; publish Subscription.

        One-click (``source`` :data:`HEADER_SOURCE`) opts out of the message's topic, or of
        every topic when the send named none. A contact that is not on the list yet is added.
        """
        sent, list_name, topic = self._listed(message_id)
        address = recipient.lower()
        if address not in {a.lower() for a in sent.mail.destinations}:
            raise SesFault("NotFound", f"{recipient} is not a recipient of message {message_id}.")
        with self.lock:
            contact_list = sent.state.contact_lists.get(list_name)
            if contact_list is None:
                raise SesFault("NotFound", f"List with name {list_name} does not exist.")
            if topics:
                unknown = sorted(set(topics) - {t.name for t in contact_list.topics})
                if unknown:
                    raise SesFault("InvalidParameter", f"Unknown topics: {', '.join(unknown)}.")
            contact = contact_list.contacts.setdefault(address, Contact(email=address))
            old = contact.event_preferences(contact_list)
            if source == HEADER_SOURCE and topic is not None:
                contact.preferences[topic] = OPT_OUT
            elif source == HEADER_SOURCE:
                contact.unsubscribe_all = True
            if topics:
                contact.preferences.update(topics)
            if unsubscribe_all is not None:
                contact.unsubscribe_all = unsubscribe_all
            contact.updated = time.time()
            new = contact.event_preferences(contact_list)
        self.changed()
        self._publish_now(
            sent,
            "Subscription",
            {
                "contactList": list_name,
                "timestamp": iso(time.time()),
                "source": source,
                "newTopicPreferences": new,
                "oldTopicPreferences": old,
            },
        )
        return new

    def _listed(self, message_id: str) -> tuple[SentMail, str, str | None]:
        """A remembered list-management send, its contact list and topic."""
        sent = self.remembered(message_id)
        if sent is None or sent.mail.list_management is None:
            raise SesFault("NotFound", f"Message {message_id} was not sent to a contact list.")
        list_name, topic = sent.mail.list_management
        return sent, list_name, topic


def unsubscribed(state: RegionState, mail: Mail) -> set[str]:
    """The recipients SES leaves out of a list-management send: they opted out."""
    if mail.list_management is None:
        return set()
    list_name, topic = mail.list_management
    contact_list = state.contact_lists.get(list_name)
    if contact_list is None:
        return set()
    return {a for a in mail.destinations if contact_list.opted_out(bare_address(a), topic)}


def add_contacts(state: RegionState, mail: Mail) -> None:
    """Put a list-management send's recipients on its contact list: SES creates the contacts
    it does not have (https://docs.aws.amazon.com/ses/latest/dg/sending-email-list-management.html)."""
    if mail.list_management is None:
        return
    contact_list = state.contact_lists.get(mail.list_management[0])
    if contact_list is None:
        return
    for address in mail.destinations:
        key = bare_address(address).lower()
        if key not in contact_list.contacts:
            contact_list.contacts[key] = Contact(email=key)
