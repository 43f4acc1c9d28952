"""What a schedule's ping URL received: the last pings of each schedule, with the small body a cron job sent.

A ping also records a run (monitoring/ping.py); this is the log a person reads when a cron job misbehaves.
"""

from django.db import models
from django.db.models import Q


class PingKind(models.TextChoices):
    START = "start", "Started"
    SUCCESS = "success", "Succeeded"
    FAIL = "fail", "Failed"


class SchedulePing(models.Model):
    schedule = models.ForeignKey("monitoring.WorkflowSchedule", on_delete=models.DB_CASCADE, related_name="pings")
    kind = models.CharField(max_length=16, choices=PingKind.choices)
    received_at = models.DateTimeField()
    method = models.CharField(max_length=8)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True, default="")
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="From /ping/<token>/<exit status>")
    body = models.TextField(blank=True, default="", help_text="The request body, cut at PING_BODY_LIMIT_BYTES")
    body_truncated = models.BooleanField(default=False)
    execution = models.ForeignKey(
        "monitoring.WorkflowExecution", null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="pings"
    )

    class Meta:
        db_table = "schedule_pings"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["schedule", "-received_at"], name="ping_schedule_recent")]
        constraints = [models.CheckConstraint(condition=Q(kind__in=PingKind.values), name="ping_kind_valid")]

    def __str__(self):
        return f"{self.get_kind_display()} ping of {self.schedule_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
