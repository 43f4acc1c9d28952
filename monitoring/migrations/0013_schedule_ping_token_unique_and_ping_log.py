import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Step 3 of 3: the token is required and unique; the log of what each ping URL received."""

    dependencies = [("monitoring", "0012_fill_schedule_ping_tokens")]

    operations = [
        migrations.AlterField(
            model_name="workflowschedule",
            name="ping_token",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.CreateModel(
            name="SchedulePing",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("start", "Started"), ("success", "Succeeded"), ("fail", "Failed")], max_length=16)),
                ("received_at", models.DateTimeField()),
                ("method", models.CharField(max_length=8)),
                ("remote_addr", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, default="", max_length=200)),
                ("exit_status", models.PositiveSmallIntegerField(blank=True, help_text="From /ping/<token>/<exit status>", null=True)),
                ("body", models.TextField(blank=True, default="", help_text="The request body, cut at PING_BODY_LIMIT_BYTES")),
                ("body_truncated", models.BooleanField(default=False)),
                ("execution", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.DB_SET_NULL, related_name="pings", to="monitoring.workflowexecution")),
                ("schedule", models.ForeignKey(on_delete=django.db.models.deletion.DB_CASCADE, related_name="pings", to="monitoring.workflowschedule")),
            ],
            options={
                "db_table": "schedule_pings",
                "ordering": ["-received_at", "-id"],
                "indexes": [models.Index(fields=["schedule", "-received_at"], name="ping_schedule_recent")],
                "constraints": [models.CheckConstraint(condition=models.Q(("kind__in", ["start", "success", "fail"])), name="ping_kind_valid")],
            },
        ),
    ]
