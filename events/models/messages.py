"""Conversations, messages and the feedback events recorded on them (seed 002)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="conversations")
    title = models.CharField(max_length=255)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="conversations"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="conversation_project_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=Q(external_id__isnull=False),
                name="conversation_external_id_unique",
            )
        ]

    def __str__(self):
        return self.title


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.DB_CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField()
    chunk_ids = models.JSONField(default=list, blank=True, help_text="Knowledge chunks the answer used")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_conversation_created")]
        constraints = [models.CheckConstraint(condition=Q(role__in=MessageRole.values), name="message_role_valid")]

    def __str__(self):
        return f"{self.role}: {self.content[:60]}"


class MessageEventType(models.TextChoices):
    USER_MESSAGE = "user_message", "Feedback"
    COPY = "copy", "Copy"
    BOOKMARK = "bookmark", "Bookmark"
    EXPANSION_FOLLOWUP = "expansion_followup", "Expansion follow-up"
    GAP_SUBMISSION = "gap_submission", "Gap submission"
    CONVERSATION_PATTERN = "conversation_pattern", "Conversation pattern"


class Feedback(models.TextChoices):
    HELPFUL = "helpful", "Helpful"
    NOT_HELPFUL = "not_helpful", "Not helpful"
    NEED_MORE = "need_more", "Need more"


class MessageEvent(models.Model):
    """What a user did with a message. The message is a real FK (never `metadata.messageId`)."""

    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="events"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="message_events"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="message_events"
    )
    event_type = models.CharField(max_length=32, choices=MessageEventType.choices)
    # Set on user_message events only: which feedback it is.
    feedback = models.CharField(max_length=16, choices=Feedback.choices, null=True, blank=True)
    chunk_ids = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["message"], name="msgevent_message"),
            models.Index(fields=["conversation"], name="msgevent_conversation"),
            models.Index(fields=["user"], name="msgevent_user"),
            models.Index(fields=["event_type"], name="msgevent_type"),
            models.Index(fields=["timestamp"], name="msgevent_timestamp"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(event_type__in=MessageEventType.values), name="msgevent_type_valid"),
            models.CheckConstraint(
                condition=Q(feedback__isnull=True) | Q(event_type="user_message", feedback__in=Feedback.values),
                name="msgevent_feedback_valid",
            ),
            # One rating (helpful or not helpful) per user per message: switching replaces it.
            models.UniqueConstraint(
                fields=["message", "user"],
                condition=Q(event_type="user_message", feedback__in=["helpful", "not_helpful"]),
                name="msgevent_one_rating_per_user",
            ),
            # One "need more" per user per message.
            models.UniqueConstraint(
                fields=["message", "user"],
                condition=Q(event_type="user_message", feedback="need_more"),
                name="msgevent_one_need_more_per_user",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} on message {self.message_id}"


class Bookmark(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="bookmarks")
    message = models.ForeignKey(Message, on_delete=models.DB_CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "message"], name="bookmark_one_per_user_message")]

    def __str__(self):
        return f"{self.user} ★ message {self.message_id}"


class ChunkPerformance(models.Model):
    """How each knowledge chunk fares in answers; rebuilt incrementally by the rollup job."""

    chunk_id = models.CharField(max_length=128, unique=True)
    times_used = models.PositiveIntegerField(default=0)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    needs_scripts_count = models.PositiveIntegerField(default=0)
    needs_examples_count = models.PositiveIntegerField(default=0)
    needs_steps_count = models.PositiveIntegerField(default=0)
    needs_case_study_count = models.PositiveIntegerField(default=0)
    copy_to_use_now_count = models.PositiveIntegerField(default=0)
    satisfaction_rate = models.FloatField(default=0.0, help_text="helpful / (helpful + not helpful), 0–1")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["chunk_id"]
        verbose_name_plural = "chunk performance"

    def __str__(self):
        return self.chunk_id
