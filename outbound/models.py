"""The one delivery log: one row per attempt to send one message to one destination, for every app that sends.

Monitoring's alerts (stream "alert"), project notifications (stream "notification") and the audit trail streamed
to a project's webhook (stream "audit") all queue here, and one
loop (outbound.engine) sends what is due and schedules the retries. A row says:
- what it delivers: `source` + `source_id` (an event "55:FAILED", an audit action, a digest window, a workflow run,
  a report, a schedule's missed slot…), plain strings as PostHog's activity log keeps them (no generic keys);
- where: `destination` ("subscription:12", "member:7", "" for a configured alert channel), `channel`, `target`;
- the message (event_type, subject, text, payload) and `delivery_id`, the id receivers deduplicate on;
- its state, the attempt number, when it is due (`next_attempt_at`), and the outcome with the request sent and
  the response's status, headers and first KB of body.
`delivery_key` names one delivery (what × where); (delivery_key, attempt) is unique, so two workers store, and so
send, each attempt once.
"""

import uuid

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .channels import channel_choices

Channel = models.TextChoices(  # type: ignore[call-overload]  # the functional API, from the registry
    "Channel", [(name.upper(), (name, label)) for name, label in channel_choices()])


class Stream(models.TextChoices):
    ALERT = "alert", "Monitoring alert"
    NOTIFICATION = "notification", "Project notification"
    AUDIT = "audit", "Audit stream"


class State(models.TextChoices):
    PENDING = "pending", "Queued"
    SENDING = "sending", "Sending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"
    GAVE_UP = "gave_up", "Failed (no retries left)"
    CANCELLED = "cancelled", "Not needed"


def new_delivery_id() -> str:
    return "dlv_" + uuid.uuid4().hex


class DeliveryQuerySet(models.QuerySet):
    def of_stream(self, stream):
        return self.filter(stream=stream)

    def due(self, now):
        return self.filter(state=State.PENDING, next_attempt_at__lte=now)

    def stale_sending(self, before):
        return self.filter(state=State.SENDING, claimed_at__lt=before)

    def delivered(self):
        return self.filter(state=State.SUCCEEDED)

    def undelivered(self):
        return self.filter(state=State.GAVE_UP)

    def for_destination(self, destination: str):
        return self.filter(destination=destination)

    def latest_first(self):
        return self.order_by("-created_at", "-id")

    def waiting_retries(self):
        """Automatic attempts queued and not yet made."""
        return self.filter(state=State.PENDING, manual=False, attempt__gt=1)

    def attempts_made(self):
        """What a log shows as its rows: attempts made or being made (a queued retry shows on the attempt that
        failed, as its "next attempt"; one a redelivery made unnecessary, on the delivery's own page)."""
        return self.exclude(state=State.CANCELLED).exclude(state=State.PENDING, manual=False, attempt__gt=1)

    def with_retry_queued(self):
        """Annotates `retry_at`: when the next automatic attempt of this delivery is queued for (None if none)."""
        queued = Delivery.objects.filter(delivery_key=OuterRef("delivery_key"), attempt__gt=OuterRef("attempt"),
                                         state=State.PENDING, manual=False)
        return self.annotate(retry_at=models.Subquery(queued.order_by("attempt").values("next_attempt_at")[:1]),
                             retried=Exists(Delivery.objects.filter(delivery_key=OuterRef("delivery_key"),
                                                                    attempt__gt=OuterRef("attempt"))))


class Delivery(models.Model):
    stream = models.CharField(max_length=16, choices=Stream.choices)
    delivery_key = models.CharField(max_length=300, help_text="One delivery (what × where); the same on each attempt")
    delivery_id = models.CharField(max_length=200, default=new_delivery_id,
                                   help_text="Receivers deduplicate on it: the same on every attempt")
    attempt = models.PositiveSmallIntegerField(default=1, help_text="1 for the first attempt")
    manual = models.BooleanField(default=False, help_text="A redelivery someone asked for (not retried on its own)")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    next_attempt_at = models.DateTimeField(default=timezone.now, help_text="When a queued attempt is due")
    claimed_by = models.CharField(max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # what it delivers, and for whom
    source = models.CharField(max_length=16, help_text="event, action, digest, run, report, schedule, check, …")
    source_id = models.CharField(max_length=200, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True, help_text="The project it is about, if any")
    destination = models.CharField(max_length=64, blank=True, help_text="subscription:<id>, member:<id> or ''")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=500, blank=True, help_text="URL or email address; '' when resolved at send")
    # the message
    event_type = models.CharField(max_length=40, blank=True, help_text="e.g. activity.failed, workflow_failed")
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    notice = models.JSONField(default=dict, blank=True,
                              help_text="The words and links the renderer builds every channel's form from")
    # the outcome of this attempt
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True, help_text="The first 1,000 characters")
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        db_table = "deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["destination", "-created_at", "-id"], name="delivery_destination_log"),
            models.Index(fields=["stream", "-created_at", "-id"], name="delivery_stream_log"),
            models.Index(fields=["source", "source_id"], name="delivery_source"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["delivery_key", "attempt"], name="delivery_once_per_attempt"),
            models.CheckConstraint(condition=Q(stream__in=Stream.values), name="delivery_stream_valid"),
            models.CheckConstraint(condition=Q(state__in=State.values), name="delivery_state_valid"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="delivery_channel_valid"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="delivery_attempt_from_one"),
        ]

    def __str__(self):
        return f"{self.delivery_id} attempt {self.attempt}: {self.state}"

    @property
    def retry_count(self) -> int:
        """0 for the first attempt, n for the n-th retry (the monitoring log's old numbering)."""
        return self.attempt - 1

    @property
    def destination_id(self) -> int | None:
        kind, _, pk = self.destination.partition(":")
        return int(pk) if pk.isdigit() else None
