"""v2 list management actions: contact lists, their topics, and contacts."""

from __future__ import annotations

from typing import Any

from courrier_sandbox.ses import resource_tags
from courrier_sandbox.ses.api.actions import V2, Handler
from courrier_sandbox.ses.contact_lists import OPT_OUT, Contact, ContactList
from courrier_sandbox.ses.service import Caller, SesService

v2 = V2.action


@v2("CreateContactList")
def _create_list(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.create_contact_list(
        caller,
        p["ContactListName"],
        topics=p.get("Topics"),
        description=p.get("Description"),
        tags=resource_tags.checked(p.get("Tags")),
    )
    return {}


@v2("GetContactList")
def _get_list(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found = svc.contact_list(caller, p["ContactListName"])
    return {
        "ContactListName": found.name,
        "Topics": [t.wire() for t in found.topics],
        "Description": found.description,
        "CreatedTimestamp": found.created,
        "LastUpdatedTimestamp": found.updated,
        "Tags": resource_tags.wire(found.tags),
    }


@v2("UpdateContactList")
def _update_list(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.update_contact_list(
        caller, p["ContactListName"], topics=p.get("Topics"), description=p.get("Description")
    )
    return {}


@v2("DeleteContactList")
def _delete_list(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_contact_list(caller, p["ContactListName"])
    return {}


@v2("ListContactLists")
def _list_lists(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found, token = V2.page(
        p,
        svc.contact_lists(caller),
        lambda c: c.name,
        "ListContactLists",
        token_fault="InvalidParameter",
    )
    return {
        "ContactLists": [
            {"ContactListName": c.name, "LastUpdatedTimestamp": c.updated} for c in found
        ],
        "NextToken": token,
    }


def _put_contact(create: bool) -> Handler:
    def handler(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
        svc.put_contact(
            caller,
            p["ContactListName"],
            p["EmailAddress"],
            create=create,
            preferences=p.get("TopicPreferences"),
            unsubscribe_all=p.get("UnsubscribeAll"),
            attributes=p.get("AttributesData"),
        )
        return {}

    return handler


V2.handlers["CreateContact"] = _put_contact(create=True)
V2.handlers["UpdateContact"] = _put_contact(create=False)


def _contact(contact: Contact, contact_list: ContactList) -> dict[str, Any]:
    return {
        "EmailAddress": contact.email,
        "TopicPreferences": contact.explicit(contact_list),
        "TopicDefaultPreferences": contact.defaults(contact_list),
        "UnsubscribeAll": contact.unsubscribe_all,
        "LastUpdatedTimestamp": contact.updated,
    }


@v2("GetContact")
def _get_contact(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    contact_list, contact = svc.contact(caller, p["ContactListName"], p["EmailAddress"])
    return {
        **_contact(contact, contact_list),
        "ContactListName": contact_list.name,
        "AttributesData": contact.attributes,
        "CreatedTimestamp": contact.created,
    }


@v2("DeleteContact")
def _delete_contact(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_contact(caller, p["ContactListName"], p["EmailAddress"])
    return {}


@v2("ListContacts")
def _list_contacts(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    contact_list = svc.contact_list(caller, p["ContactListName"])
    wanted = p.get("Filter") or {}
    with svc.lock:
        contacts = [c for c in contact_list.contacts.values() if _matches(c, contact_list, wanted)]
    found, token = V2.page(
        p, contacts, lambda c: c.email, "ListContacts", token_fault="InvalidParameter"
    )
    return {"Contacts": [_contact(c, contact_list) for c in found], "NextToken": token}


def _matches(contact: Contact, contact_list: ContactList, wanted: dict[str, Any]) -> bool:
    """``ListContacts``' filter: a status, for one topic or for any topic."""
    status: str | None = wanted.get("FilteredStatus")
    by_topic = wanted.get("TopicFilter")
    if by_topic:
        topic = contact_list.topic(by_topic["TopicName"])
        if by_topic.get("UseDefaultIfPreferenceUnavailable"):
            actual: str | None = contact.status(topic)
        elif contact.unsubscribe_all:
            actual = OPT_OUT
        else:
            actual = contact.preferences.get(topic.name)
        return actual is not None and (status is None or actual == status)
    if status is None:
        return True
    if contact.unsubscribe_all:
        return status == OPT_OUT
    return any(contact.status(t) == status for t in contact_list.topics)
