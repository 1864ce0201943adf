"""courrier's tables as unmanaged Django models, for the read-only admin.

They describe the store's tables (:mod:`courrier.store.tables`, migrated by courrier's own
Alembic migrations, never by Django's) and are readable only when the store is a Django
database (``COURRIER["DATABASE"]``). Never write through them.
"""

from __future__ import annotations

from django.db import models

ADDRESS = 320


class Message(models.Model):
    id = models.AutoField(primary_key=True)
    ses_message_id = models.CharField("SES message id", max_length=100, null=True)
    sender = models.CharField(max_length=ADDRESS)
    subject = models.TextField()
    configuration_set = models.CharField(max_length=64, null=True)
    status = models.CharField(max_length=20)
    error = models.TextField(null=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True)
    tenant = models.CharField(max_length=64, null=True)

    class Meta:
        managed = False
        db_table = "messages"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.subject} ({self.status})"


class Recipient(models.Model):
    id = models.AutoField(primary_key=True)
    message = models.ForeignKey(
        Message, on_delete=models.DO_NOTHING, related_name="recipients", db_column="message_id"
    )
    address = models.CharField(max_length=ADDRESS)
    kind = models.CharField(max_length=3)
    status = models.CharField(max_length=30)
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "recipients"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"


class Suppression(models.Model):
    address = models.CharField(max_length=ADDRESS, primary_key=True)
    reason = models.CharField(max_length=30)
    source = models.CharField(max_length=30)
    detail = models.TextField(null=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "suppressions"
        ordering = ("address",)

    def __str__(self) -> str:
        return self.address


class FeedbackEvent(models.Model):
    id = models.AutoField(primary_key=True)
    event_key = models.CharField(max_length=400)
    kind = models.CharField(max_length=40)
    subtype = models.CharField(max_length=200, null=True)
    recipient = models.CharField(max_length=ADDRESS, null=True)
    ses_message_id = models.CharField("SES message id", max_length=100)
    feedback_id = models.CharField(max_length=200, null=True)
    sns_message_id = models.CharField("SNS message id", max_length=100, null=True)
    topic_arn = models.CharField(max_length=300, null=True)
    action = models.CharField(max_length=30)
    occurred_at = models.DateTimeField(null=True)
    received_at = models.DateTimeField()
    payload = models.TextField()
    tenant = models.CharField(max_length=64, null=True)

    class Meta:
        managed = False
        db_table = "feedback_events"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.kind} {self.recipient or ''}".strip()


class TenantSuppression(models.Model):
    """An address suppressed for one SES tenant only (its complaints).

    The table's key is (tenant, address), which Django's models cannot name before 5.2
    (``CompositePrimaryKey``, which the admin refuses): the address stands in as the model's
    key, so rows are listed and filtered, never looked up one by one.
    """

    address = models.CharField(max_length=ADDRESS, primary_key=True)
    tenant = models.CharField(max_length=64)
    reason = models.CharField(max_length=30)
    source = models.CharField(max_length=30)
    detail = models.TextField(null=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "tenant_suppressions"
        ordering = ("tenant", "address")

    def __str__(self) -> str:
        return f"{self.address} ({self.tenant})"


class TenantGuardTrip(models.Model):
    """Each time one tenant's reputation guard tripped, and when it was reset."""

    id = models.AutoField(primary_key=True)
    tenant = models.CharField(max_length=64)
    open_tenant = models.CharField(max_length=64, null=True)
    tripped_at = models.DateTimeField()
    rate = models.CharField(max_length=30)
    value = models.FloatField(null=True)
    threshold = models.FloatField(null=True)
    detail = models.TextField()
    figures = models.TextField()
    reset_at = models.DateTimeField(null=True)
    reset_note = models.TextField(null=True)

    class Meta:
        managed = False
        db_table = "tenant_guard_trips"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.tenant}: {self.rate}"


class TenantHold(models.Model):
    """A tenant SES paused: its queued outbox rows wait until ``held_until``."""

    tenant = models.CharField(max_length=64, primary_key=True)
    held_until = models.DateTimeField()
    held_at = models.DateTimeField()
    error = models.TextField(null=True)
    probe_id = models.IntegerField("probe (outbox row)", null=True)
    probe_until = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "tenant_holds"
        ordering = ("tenant",)

    def __str__(self) -> str:
        return self.tenant


class Unsubscribe(models.Model):
    """A recipient who left a list ('' = every list) of a tenant ('' = the account's)."""

    id = models.AutoField(primary_key=True)
    address = models.CharField(max_length=ADDRESS)
    list_name = models.CharField("list", max_length=64)
    tenant = models.CharField(max_length=64)
    source = models.CharField(max_length=30)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "unsubscribes"
        ordering = ("-id",)

    def __str__(self) -> str:
        return self.address
