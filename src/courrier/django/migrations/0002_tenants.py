"""The admin's unmanaged models of the tenants' tables and the unsubscribes: Django creates
no table; courrier's store has them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("courrier", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="TenantGuardTrip",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("tenant", models.CharField(max_length=64)),
                ("open_tenant", models.CharField(max_length=64, null=True)),
                ("tripped_at", models.DateTimeField()),
                ("rate", models.CharField(max_length=30)),
                ("value", models.FloatField(null=True)),
                ("threshold", models.FloatField(null=True)),
                ("detail", models.TextField()),
                ("figures", models.TextField()),
                ("reset_at", models.DateTimeField(null=True)),
                ("reset_note", models.TextField(null=True)),
            ],
            options={
                "db_table": "tenant_guard_trips",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="TenantHold",
            fields=[
                ("tenant", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("held_until", models.DateTimeField()),
                ("held_at", models.DateTimeField()),
                ("error", models.TextField(null=True)),
                ("probe_id", models.IntegerField(null=True, verbose_name="probe (outbox row)")),
                ("probe_until", models.DateTimeField(null=True)),
            ],
            options={
                "db_table": "tenant_holds",
                "ordering": ("tenant",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="TenantSuppression",
            fields=[
                ("address", models.CharField(max_length=320, primary_key=True, serialize=False)),
                ("tenant", models.CharField(max_length=64)),
                ("reason", models.CharField(max_length=30)),
                ("source", models.CharField(max_length=30)),
                ("detail", models.TextField(null=True)),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("expires_at", models.DateTimeField(null=True)),
            ],
            options={
                "db_table": "tenant_suppressions",
                "ordering": ("tenant", "address"),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Unsubscribe",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("address", models.CharField(max_length=320)),
                ("list_name", models.CharField(max_length=64, verbose_name="list")),
                ("tenant", models.CharField(max_length=64)),
                ("source", models.CharField(max_length=30)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "db_table": "unsubscribes",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
    ]
