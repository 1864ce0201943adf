"""A read-only admin of messages, recipients, feedback events, suppressions, unsubscribes
and, for SES tenants, their own suppressions, guard trips and outbox holds.

Registered only when the store is a Django database (``COURRIER["DATABASE"]``): the admin
reads through Django's connections. Changes go through courrier (``manage.py courrier
suppression add|remove``), never through these pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path

from courrier.django import models
from courrier.django import settings as courrier_settings
from courrier.errors import ConfigurationError

# The admin classes are generic for the type checker only (django-stubs).
if TYPE_CHECKING:
    _Base = BaseModelAdmin[Any]
    _ModelAdmin = admin.ModelAdmin[Any]
    _Inline = admin.TabularInline[Any, Any]
else:
    _Base, _ModelAdmin, _Inline = BaseModelAdmin, admin.ModelAdmin, admin.TabularInline


class ReadOnly(_Base):
    """Viewing only, from the store's database."""

    alias = "default"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).using(self.alias)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ListOnly(ReadOnly, _ModelAdmin):
    """A list with no page per row, for a table whose key the model cannot name."""

    list_display_links = None

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.changelist_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", view, name=name)]


class RecipientInline(ReadOnly, _Inline):
    model = models.Recipient
    fields = ("address", "kind", "status", "updated_at")
    extra = 0


class MessageAdmin(ReadOnly, _ModelAdmin):
    list_display = ("id", "created_at", "sender", "subject", "status", "ses_message_id")
    list_filter = ("status", "configuration_set", "tenant")
    search_fields = ("ses_message_id", "sender", "subject", "recipients__address")
    date_hierarchy = "created_at"
    inlines = (RecipientInline,)


class RecipientAdmin(ReadOnly, _ModelAdmin):
    list_display = ("address", "kind", "status", "updated_at", "message")
    list_filter = ("status", "kind")
    search_fields = ("address", "message__ses_message_id")
    list_select_related = ("message",)


class FeedbackEventAdmin(ReadOnly, _ModelAdmin):
    list_display = ("received_at", "kind", "subtype", "recipient", "action", "ses_message_id")
    list_filter = ("kind", "action", "tenant")
    search_fields = ("recipient", "ses_message_id", "feedback_id", "sns_message_id")
    date_hierarchy = "received_at"


class SuppressionAdmin(ReadOnly, _ModelAdmin):
    list_display = ("address", "reason", "source", "first_seen", "last_seen", "expires_at")
    list_filter = ("reason", "source")
    search_fields = ("address",)


class UnsubscribeAdmin(ReadOnly, _ModelAdmin):
    list_display = ("address", "list_name", "tenant", "source", "created_at")
    list_filter = ("tenant", "source")
    search_fields = ("address", "list_name")
    date_hierarchy = "created_at"


class TenantSuppressionAdmin(ListOnly):
    list_display = ("tenant", "address", "reason", "source", "first_seen", "last_seen")
    list_filter = ("tenant", "reason")
    search_fields = ("address", "tenant")


class TenantGuardTripAdmin(ReadOnly, _ModelAdmin):
    list_display = ("tripped_at", "tenant", "rate", "value", "threshold", "reset_at")
    list_filter = ("tenant", "rate")
    search_fields = ("tenant",)
    date_hierarchy = "tripped_at"


class TenantHoldAdmin(ReadOnly, _ModelAdmin):
    list_display = ("tenant", "held_until", "held_at", "probe_id", "error")


def register(site: admin.AdminSite, alias: str) -> None:
    """Register the read-only pages on ``site``, reading from the Django database ``alias``."""

    def bound(cls: type[Any], **extra: Any) -> Any:
        return type(cls.__name__, (cls,), {"alias": alias, **extra})

    site.register(models.Message, bound(MessageAdmin, inlines=(bound(RecipientInline),)))
    site.register(models.Recipient, bound(RecipientAdmin))
    site.register(models.FeedbackEvent, bound(FeedbackEventAdmin))
    site.register(models.Suppression, bound(SuppressionAdmin))
    site.register(models.Unsubscribe, bound(UnsubscribeAdmin))
    site.register(models.TenantSuppression, bound(TenantSuppressionAdmin))
    site.register(models.TenantGuardTrip, bound(TenantGuardTripAdmin))
    site.register(models.TenantHold, bound(TenantHoldAdmin))


def _store_alias() -> str | None:
    try:
        return courrier_settings.options().database
    except ConfigurationError:
        return None  # reported by the system check courrier.E001


_alias = _store_alias()
if _alias is not None:
    register(admin.site, _alias)
