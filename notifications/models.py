"""Subscriptions (project rules), personal preferences and watches, and their view of the one delivery log.

Channel choices come from the channel registry (outbound.channels), as monitoring's do."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.models.activity import ActionStatus, EventCategory, EventStatus, EventType
from outbound import validate_outbound_url
from outbound.models import Channel, DeliveryQuerySet, State, Stream
from outbound.models import Delivery as OutboundDelivery
from outbound.models import new_delivery_id as new_delivery_id  # migration 0001 names it here


class Mode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    HOURLY = "hourly", "Hourly digest"
    DAILY = "daily", "Daily digest"


class SubscriptionQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def active(self):
        return self.filter(enabled=True)

    def immediate(self):
        return self.filter(mode=Mode.IMMEDIATE)


class Subscription(models.Model):
    """A project rule: which activity events and/or audit actions to send, where, and how often.

    An empty filter matches everything of its kind; `match_events` / `match_actions` say which kinds it covers.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="subscriptions")
    name = models.CharField(max_length=100)
    # activity events
    match_events = models.BooleanField(default=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Event types; empty: any")
    category = models.CharField(max_length=16, blank=True, choices=EventCategory.choices)
    event_status = models.CharField(max_length=16, blank=True, choices=EventStatus.choices)
    entity_type = models.CharField(max_length=64, blank=True)
    text_contains = models.CharField(max_length=200, blank=True, help_text="In the title or description (any case)")
    # audit actions
    match_actions = models.BooleanField(default=False)
    action_type = models.CharField(max_length=64, blank=True)
    action_status = models.CharField(max_length=16, blank=True, choices=ActionStatus.choices)
    environment = models.CharField(max_length=32, blank=True)
    # where and when
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target_url = models.URLField(max_length=500, blank=True, validators=[validate_outbound_url],
                                 help_text="http(s) only; in production not a private, loopback or link-local address")
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+", through="Recipient")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.IMMEDIATE)
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # webhook signing: the current secret, and during a rotation the previous one until its overlap ends
    secret = models.CharField(max_length=100, blank=True)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["project", "enabled"], name="subscription_project_enabled")]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="subscription_channel_valid"),
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="subscription_mode_valid"),
            models.CheckConstraint(condition=Q(match_events=True) | Q(match_actions=True),
                                   name="subscription_matches_something"),
            models.CheckConstraint(condition=Q(channel="email") | ~Q(target_url=""), name="subscription_url_for_webhooks"),
            models.CheckConstraint(condition=Q(category="") | Q(category__in=EventCategory.values),
                                   name="subscription_category_valid"),
            models.CheckConstraint(condition=Q(event_status="") | Q(event_status__in=EventStatus.values),
                                   name="subscription_event_status_valid"),
            models.CheckConstraint(condition=Q(action_status="") | Q(action_status__in=ActionStatus.values),
                                   name="subscription_action_status_valid"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        """The rules a form and the API both check (full_clean)."""
        errors = {}
        if not (self.match_events or self.match_actions):
            errors["match_events"] = "Choose activity events, audit actions or both."
        unknown = [t for t in self.event_types or [] if t not in EventType.values]
        if not isinstance(self.event_types, list) or unknown:
            errors["event_types"] = f"Unknown event types: {', '.join(map(str, unknown))[:200]}."
        if self.channel in (Channel.SLACK, Channel.WEBHOOK) and not self.target_url:
            errors["target_url"] = "A Slack or webhook subscription needs the URL to send to."
        if self.channel == Channel.EMAIL:
            self.target_url = ""
        if errors:
            raise ValidationError(errors)

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets to sign with: the current one, plus the previous one while its overlap window lasts."""
        now = now or timezone.now()
        secrets = [self.secret] if self.secret else []
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets

    def rotate_secret(self, new_secret: str, *, overlap: timedelta, now=None) -> None:
        now = now or timezone.now()
        self.previous_secret, self.previous_secret_expires_at = self.secret, now + overlap
        self.secret = new_secret


class Recipient(models.Model):
    """A member an email subscription writes to."""

    subscription = models.ForeignKey(Subscription, on_delete=models.DB_CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "user"], name="recipient_once")]

    def __str__(self):
        return f"{self.user} ← {self.subscription}"


class Level(models.TextChoices):
    OFF = "off", "Off"
    FAILURES = "failures", "Failures"
    EVERYTHING = "everything", "Everything"


class Preference(models.Model):
    """One member's notifications from one project: what (off / failures / everything) and when."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.OFF)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.IMMEDIATE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="preference_one_per_member"),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="preference_level_valid"),
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="preference_mode_valid"),
        ]

    def __str__(self):
        return f"{self.user} · {self.project}: {self.level}, {self.mode}"


class Watch(models.Model):
    """A member follows one entity (entity_type + entity_id) of a project, whatever their project-wide level."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["project", "entity_type", "entity_id"], name="watch_project_entity")]
        constraints = [
            models.UniqueConstraint(fields=["user", "project", "entity_type", "entity_id"], name="watch_once"),
        ]

    def __str__(self):
        return f"{self.user} watches {self.entity_type} {self.entity_id}"


class Source(models.TextChoices):
    EVENT = "event", "Activity event"
    ACTION = "action", "Audit action"
    DIGEST = "digest", "Digest"
    RUN = "run", "Workflow run"


# The delivery log's words (outbound.models.State): pending, sending, succeeded, failed, gave_up, cancelled.
DeliveryState = State


class NotificationDeliveryQuerySet(DeliveryQuerySet):
    def for_subscription(self, subscription):
        return self.filter(destination=subscription_destination(subscription.pk))


class NotificationManager(models.Manager.from_queryset(NotificationDeliveryQuerySet)):  # type: ignore[misc]
    def get_queryset(self):
        return super().get_queryset().filter(stream=Stream.NOTIFICATION)


def subscription_destination(pk) -> str:
    return f"subscription:{pk}"


def member_destination(user_id) -> str:
    return f"member:{user_id}"


class Delivery(OutboundDelivery):
    """Project notifications in the one delivery log (proxy: the rows whose stream is "notification").

    One row per attempt to send one event, action or digest to a subscription or to one member (a
    watch/preference); `destination` says which ("subscription:<id>" / "member:<id>"). `delivery_id` is the same
    for every attempt (retries, redeliveries) of the same thing: receivers dedupe on it.
    """

    objects = NotificationManager()  # type: ignore[misc]  # a proxy's manager: only its stream's rows

    class Meta:
        proxy = True
        verbose_name = "notification delivery"
        verbose_name_plural = "notification deliveries"

    def save(self, *args, **kwargs):
        self.stream = Stream.NOTIFICATION
        super().save(*args, **kwargs)

    @property
    def subscription_id(self) -> int | None:
        return self.destination_id if self.destination.startswith("subscription:") else None

    @property
    def recipient_id(self) -> int | None:
        return self.destination_id if self.destination.startswith("member:") else None
