"""The admin's unmanaged models: Django creates no table; courrier's store has them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="FeedbackEvent",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("event_key", models.CharField(max_length=400)),
                ("kind", models.CharField(max_length=40)),
                ("subtype", models.CharField(max_length=200, null=True)),
                ("recipient", models.CharField(max_length=320, null=True)),
                ("ses_message_id", models.CharField(max_length=100, verbose_name="SES message id")),
                ("feedback_id", models.CharField(max_length=200, null=True)),
                (
                    "sns_message_id",
                    models.CharField(max_length=100, null=True, verbose_name="SNS message id"),
                ),
                ("topic_arn", models.CharField(max_length=300, null=True)),
                ("action", models.CharField(max_length=30)),
                ("occurred_at", models.DateTimeField(null=True)),
                ("received_at", models.DateTimeField()),
                ("payload", models.TextField()),
            ],
            options={
                "db_table": "feedback_events",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Message",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                (
                    "ses_message_id",
                    models.CharField(max_length=100, null=True, verbose_name="SES message id"),
                ),
                ("sender", models.CharField(max_length=320)),
                ("subject", models.TextField()),
                ("configuration_set", models.CharField(max_length=64, null=True)),
                ("status", models.CharField(max_length=20)),
                ("error", models.TextField(null=True)),
                ("created_at", models.DateTimeField()),
                ("sent_at", models.DateTimeField(null=True)),
            ],
            options={
                "db_table": "messages",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Recipient",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("address", models.CharField(max_length=320)),
                ("kind", models.CharField(max_length=3)),
                ("status", models.CharField(max_length=30)),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "db_table": "recipients",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Suppression",
            fields=[
                ("address", models.CharField(max_length=320, primary_key=True, serialize=False)),
                ("reason", models.CharField(max_length=30)),
                ("source", models.CharField(max_length=30)),
                ("detail", models.TextField(null=True)),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("expires_at", models.DateTimeField(null=True)),
            ],
            options={
                "db_table": "suppressions",
                "ordering": ("address",),
                "managed": False,
            },
        ),
    ]
