"""Conversations, messages and the feedback events recorded on them ."""

from django.conf import settings
from django.db import models
from django.db.models import Count, Max, Q
from django.utils import timezone


class ConversationQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def search(self, text):
        """Title, external id or any message's text contains `text` (case-insensitive)."""
        text = (text or "").strip()
        if not text:
            return self
        matching = Message.objects.filter(content__icontains=text).values("conversation_id")
        return self.filter(Q(title__icontains=text) | Q(external_id__icontains=text) | Q(pk__in=matching))

    def with_stats(self):
        return self.annotate(message_count=Count("messages"), last_message_at=Max("messages__created_at"))


class Conversation(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="conversations")
    title = models.CharField(max_length=255)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="conversations"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ConversationQuerySet.as_manager()

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


class MessageQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(conversation__project=project)

    def assistant(self):
        return self.filter(role=MessageRole.ASSISTANT)

    def with_feedback_counts(self):
        """Feedback per message, counted through the MessageEvent.message FK (never metadata JSON)."""
        feedback = Q(events__event_type=MessageEventType.USER_MESSAGE)
        return self.annotate(
            helpful_count=Count("events", filter=feedback & Q(events__feedback=Feedback.HELPFUL)),
            not_helpful_count=Count("events", filter=feedback & Q(events__feedback=Feedback.NOT_HELPFUL)),
            need_more_count=Count("events", filter=feedback & Q(events__feedback=Feedback.NEED_MORE)),
            copy_count=Count("events", filter=Q(events__event_type=MessageEventType.COPY)),
        )


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.DB_CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField()
    chunk_ids = models.JSONField(default=list, blank=True, help_text="Knowledge chunks the answer used")
    created_at = models.DateTimeField(default=timezone.now)

    objects = MessageQuerySet.as_manager()

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


class NeedMoreReason(models.TextChoices):
    SCRIPTS = "scripts", "Scripts"
    EXAMPLES = "examples", "Examples"
    STEPS = "steps", "Steps"
    CASE_STUDY = "case_study", "Case study"


class CopyUsage(models.TextChoices):
    """The answer to "how will you use it?" after a copy (metadata.copyUsage on the copy event)."""

    USE_NOW = "use_now", "Use it now"
    ADAPT = "adapt", "Adapt it first"
    SHARE = "share", "Share it with my team"
    REFERENCE = "reference", "Keep it for reference"


class MessageEventQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(conversation__project=project)

    def for_message(self, message):
        """All events of one message, by the indexed FK (the benchmark's fast query)."""
        return self.filter(message=message)

    def feedback(self):
        return self.filter(event_type=MessageEventType.USER_MESSAGE)

    def ratings(self):
        return self.feedback().filter(feedback__in=[Feedback.HELPFUL, Feedback.NOT_HELPFUL])

    def need_more(self):
        return self.feedback().filter(feedback=Feedback.NEED_MORE)

    def gaps(self):
        """Feedback that signals missing content: need more, or not helpful."""
        return self.feedback().filter(feedback__in=[Feedback.NEED_MORE, Feedback.NOT_HELPFUL])

    def copies(self):
        return self.filter(event_type=MessageEventType.COPY)

    def since(self, moment):
        return self.filter(timestamp__gte=moment)

    def changed_since(self, moment):
        """Inserted or updated since `moment` (server clock): what the incremental rollup looks at."""
        return self.filter(updated_at__gte=moment)


class MessageEvent(models.Model):
    """What a user did with a message. The message is a real FK (never `metadata.messageId`)."""

    # db_index=False: the named indexes in Meta cover these columns; Django's automatic FK index
    # would be an identical second index that every insert on this big table pays for.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="events", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="message_events", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_CASCADE, related_name="message_events",
        db_index=False,
    )
    event_type = models.CharField(max_length=32, choices=MessageEventType.choices)
    # Set on user_message events only: which feedback it is.
    feedback = models.CharField(max_length=16, choices=Feedback.choices, null=True, blank=True)
    chunk_ids = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    # Server time of the last insert or change (copy usage answered, rating switched): the rollup's watermark
    # compares against it, so a change to an old event is still rolled up.
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageEventQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["message"], name="msgevent_message"),
            # Conversation first, so it serves the sessionId lookups; with the type it also serves "this
            # project's feedback / copies" (the quality page, the rollup) without ANDing a huge type bitmap.
            models.Index(fields=["conversation", "event_type"], name="msgevent_conversation_type"),
            models.Index(fields=["user"], name="msgevent_user"),
            models.Index(fields=["event_type"], name="msgevent_type"),
            models.Index(fields=["timestamp"], name="msgevent_timestamp"),
            # The chunk-performance rollup: "events changed since the watermark".
            models.Index(fields=["updated_at"], name="msgevent_updated"),
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


class BookmarkQuerySet(models.QuerySet):
    def mine(self, user):
        """The user's bookmarks in projects they are still a member of (a former member sees none)."""
        return self.filter(user=user, message__conversation__project__memberships__user=user)


class Bookmark(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="bookmarks")
    message = models.ForeignKey(Message, on_delete=models.DB_CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(default=timezone.now)

    objects = BookmarkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "message"], name="bookmark_one_per_user_message")]

    def __str__(self):
        return f"{self.user} ★ message {self.message_id}"


class ChunkPerformanceQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)


class ChunkPerformance(models.Model):
    """How each knowledge chunk fares in answers; rebuilt incrementally by the rollup job (events/quality.py).

    Per project: chunk ids are strings each project's assistant chooses, so "intro-1" in two projects is two
    chunks, and one project's counts must never show on another's quality page.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="chunk_performance")
    chunk_id = models.CharField(max_length=128)
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

    objects = ChunkPerformanceQuerySet.as_manager()

    class Meta:
        ordering = ["project", "chunk_id"]
        verbose_name_plural = "chunk performance"
        constraints = [models.UniqueConstraint(fields=["project", "chunk_id"], name="chunkperf_one_per_project_chunk")]

    def __str__(self):
        return self.chunk_id


class RollupWatermark(models.Model):
    """How far a job has processed: the rollup re-reads only what changed since `processed_until`."""

    name = models.CharField(max_length=64, unique=True)
    processed_until = models.DateTimeField()
    last_run_at = models.DateTimeField(default=timezone.now)
    last_run_chunks = models.PositiveIntegerField(default=0, help_text="Chunks recomputed by the last run")

    def __str__(self):
        return f"{self.name} until {self.processed_until:%Y-%m-%d %H:%M:%S}"
