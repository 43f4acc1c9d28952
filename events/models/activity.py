"""Activity events and the append-only project audit trail."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from projects.audit import label_for_key


class EventType(models.TextChoices):
    INDEXING_STARTED = "INDEXING_STARTED", "Indexing started"
    INDEXING_PROGRESS = "INDEXING_PROGRESS", "Indexing progress"
    INDEXING_COMPLETED = "INDEXING_COMPLETED", "Indexing completed"
    INDEXING_FAILED = "INDEXING_FAILED", "Indexing failed"
    APR_SESSION_CREATED = "APR_SESSION_CREATED", "APR session created"
    APR_ANALYZING = "APR_ANALYZING", "APR analyzing"
    APR_CODE_GENERATION = "APR_CODE_GENERATION", "APR code generation"
    APR_VALIDATION = "APR_VALIDATION", "APR validation"
    APR_REVIEW = "APR_REVIEW", "APR review"
    APR_PR_CREATED = "APR_PR_CREATED", "APR pull request created"
    APR_COMPLETED = "APR_COMPLETED", "APR completed"
    APR_FAILED = "APR_FAILED", "APR failed"
    CHAT_MESSAGE_SENT = "CHAT_MESSAGE_SENT", "Chat message sent"
    CHAT_MESSAGE_RECEIVED = "CHAT_MESSAGE_RECEIVED", "Chat message received"
    AUTO_FIX_STARTED = "AUTO_FIX_STARTED", "Auto-fix started"
    AUTO_FIX_COMPLETED = "AUTO_FIX_COMPLETED", "Auto-fix completed"
    AUTO_FIX_FAILED = "AUTO_FIX_FAILED", "Auto-fix failed"
    CODE_SCAFFOLDING = "CODE_SCAFFOLDING", "Code scaffolding"
    TEST_GENERATION = "TEST_GENERATION", "Test generation"


class EventCategory(models.TextChoices):
    INDEXING = "indexing", "Indexing"
    APR = "apr", "Automated PRs"
    CHAT = "chat", "Chat"
    AUTO_FIX = "auto_fix", "Auto-fix"
    CODEGEN = "codegen", "Code generation"

    @classmethod
    def types_of(cls, category) -> list[str]:
        return [t for t, c in CATEGORY_OF_TYPE.items() if c == category]


CATEGORY_OF_TYPE = {
    **{t: EventCategory.INDEXING for t in EventType.values if t.startswith("INDEXING_")},
    **{t: EventCategory.APR for t in EventType.values if t.startswith("APR_")},
    **{t: EventCategory.CHAT for t in EventType.values if t.startswith("CHAT_")},
    **{t: EventCategory.AUTO_FIX for t in EventType.values if t.startswith("AUTO_FIX_")},
    EventType.CODE_SCAFFOLDING: EventCategory.CODEGEN,
    EventType.TEST_GENERATION: EventCategory.CODEGEN,
}


class EventStatus(models.TextChoices):
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"


# The PostgreSQL full-text document of an event, stored in a generated column with a GIN index (migration 0007).
# Stored, not recomputed: a search that walks the feed's date index checks each row's ready-made vector instead of
# running to_tsvector on it (a word in 1% of rows: ~90 ms → a few ms at 1M events).
SEARCH_CONFIG = "english"


def search_vector():
    from django.contrib.postgres.search import SearchVector

    return SearchVector("title", "description", config=SEARCH_CONFIG)


class SearchDocument(models.Expression):
    """search_vector() on PostgreSQL; NULL elsewhere (SQLite has no tsvector; search() uses a contains there)."""

    vector: models.Expression  # search_vector(), resolved against the query by resolve_expression

    def __init__(self):
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        copy = super().resolve_expression(query, allow_joins, reuse, summarize, for_save)
        copy.vector = search_vector().resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return copy

    def as_sql(self, compiler, connection):
        return "NULL", []

    def as_postgresql(self, compiler, connection):
        return compiler.compile(self.vector)

    def deconstruct(self):
        return "events.models.activity.SearchDocument", (), {}

    def __eq__(self, other):
        return isinstance(other, SearchDocument)

    def __hash__(self):
        return hash(SearchDocument)


def start_of_day(now=None):
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class ActivityEventQuerySet(models.QuerySet):
    """Domain queries for the feed, insights and home; each is served by one of the model's indexes."""

    def for_project(self, project):
        return self.filter(project=project)

    def for_feed(self):
        """Rows for the feed as named tuples (FEED_COLUMNS): only the columns a row shows, the author's username
        joined in as `actor_name`.

        A model instance costs ~20 µs a row to build (every column decoded, metadata JSON parsed); a page of 50
        rows costs about a tenth of that. Filters, ordering and slicing still compose as usual."""
        return self.annotate(**FEED_ANNOTATIONS).values_list(*FEED_COLUMNS, named=True)

    def for_projects(self, projects):
        return self.filter(project__in=projects)

    def of_type(self, *event_types):
        # A single type as plain equality: the (project, event_type, created_at, id) index then also gives the order.
        if len(event_types) == 1:
            return self.filter(event_type=event_types[0])
        return self.filter(event_type__in=event_types)

    def in_category(self, category):
        return self.filter(event_type__in=EventCategory.types_of(category))

    def in_progress(self):
        return self.filter(status=EventStatus.IN_PROGRESS)

    def completed(self):
        return self.filter(status=EventStatus.COMPLETED)

    def failed(self):
        return self.filter(status=EventStatus.FAILED)

    def since(self, moment):
        return self.filter(created_at__gte=moment)

    def before(self, moment):
        return self.filter(created_at__lt=moment)

    def today(self):
        return self.since(start_of_day())

    def search(self, text):
        """Full-text search on title and description: PostgreSQL tsvector (GIN index), a plain contains elsewhere."""
        text = (text or "").strip()
        if not text:
            return self
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery

            return self.filter(search_document=SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch"))
        return self.filter(Q(title__icontains=text) | Q(description__icontains=text))

    def newest_first(self):
        return self.order_by("-created_at", "-id")

    def recent_across(self, projects, limit=10):
        """The `limit` most recent events across several projects.

        One small index range per project (event_project_created) merged in Python: a single
        `project IN (…) ORDER BY created_at` query would have to sort every event of those projects.
        """
        projects = list(projects)
        if not projects:
            return []
        per_project = [self.filter(project=p).newest_first()[:limit] for p in projects]
        if connection.features.supports_slicing_ordering_in_compound and len(per_project) > 1:
            # PostgreSQL: one round trip, UNION ALL of the per-project index ranges, then the top `limit` ids.
            ids = per_project[0].values_list("id", "created_at").union(
                *[qs.values_list("id", "created_at") for qs in per_project[1:]], all=True
            ).order_by("-created_at", "-id")[:limit]
            rows: list[ActivityEvent] = list(ActivityEvent.objects.filter(pk__in=[pk for pk, _ in ids]).select_related("project", "user"))
        else:
            rows = [e for qs in per_project for e in qs.select_related("project", "user")]
        rows.sort(key=lambda e: (e.created_at, e.pk), reverse=True)
        return rows[:limit]

    def failures_across(self, projects, days=7, limit=5):
        """Recent FAILED events across several projects (Home's "needs attention"), merged like recent_across."""
        return self.failed().since(timezone.now() - timedelta(days=days)).recent_across(projects, limit)


class ActivityEvent(models.Model):
    # No single-column FK indexes: event_project_created and event_user_created lead with these columns (the
    # cascade and SET NULL use them), and on PostgreSQL every index is planned once per monthly partition.
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="activity_events",
                                db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="activity_events",
        db_index=False,
    )
    # The API key that recorded the event (None: a member's session, ActivityHub's own code). No index: keys are
    # revoked, not deleted; deleting one (admin, its project) scans once rather than every ingest paying an index.
    api_key = models.ForeignKey("projects.ApiKey", null=True, blank=True, on_delete=models.DB_SET_NULL,
                                related_name="activity_events", db_index=False)
    # The key as it was named when it recorded the event ("API key “ci” (ah_1a2b3c4d_…)"): a key deleted in the admin
    # sets api_key NULL, and this keeps the attribution. Nullable so adding it to the partitioned table rewrote nothing.
    api_key_label = models.CharField(max_length=200, null=True, blank=True)
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    entity_type = models.CharField(max_length=64, help_text="What the event is about: indexing, apr_session, chat_message, …")
    entity_id = models.CharField(max_length=128, null=True, blank=True)
    title = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.IN_PROGRESS)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Milliseconds")
    # A client-supplied id makes a retried submission idempotent (unique per project).
    external_id = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    search_document = models.GeneratedField(expression=SearchDocument(), output_field=SearchDocument().output_field,
                                            db_persist=True, editable=False)

    objects = ActivityEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # The five lookup indexes; `id` closes each so keyset pagination on (created_at, id) stays index-only.
        indexes = [
            # Covering on PostgreSQL: insights aggregate a 90-day range from the index alone (no heap visits).
            models.Index(fields=["project", "-created_at", "-id"], name="event_project_created",
                         include=["event_type", "status", "duration"]),
            models.Index(fields=["user", "-created_at", "-id"], name="event_user_created"),
            models.Index(fields=["event_type", "-created_at", "-id"], name="event_type_created"),
            models.Index(fields=["status", "-created_at", "-id"], name="event_status_created"),
            models.Index(fields=["project", "event_type", "-created_at", "-id"], name="event_project_type_created"),
            # The feed's user filter: without it, a user busy in other projects makes (user, created_at) scan them all.
            models.Index(fields=["project", "user", "-created_at", "-id"], name="event_project_user_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(event_type__in=EventType.values), name="event_type_valid"),
            models.CheckConstraint(condition=Q(status__in=EventStatus.values), name="event_status_valid"),
            models.UniqueConstraint(
                fields=["project", "external_id"], condition=Q(external_id__isnull=False), name="event_external_id_unique"
            ),
        ]

    def __str__(self):
        return f"{self.event_type}: {self.title}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("events:event_detail", args=[self.project.slug, self.pk])

    @property
    def category(self):
        return CATEGORY_OF_TYPE[self.event_type]

    def get_category_display(self):
        return EventCategory(self.category).label

    @property
    def is_running(self):
        return self.status == EventStatus.IN_PROGRESS

    @property
    def actor_name(self):
        """Who did it: the user's name, or None (an API key, or the system)."""
        return self.user.get_username() if self.user is not None else None

    @property
    def api_key_name(self):
        return self.api_key.name if self.api_key_id and self.api_key else None

    @property
    def api_key_prefix(self):
        return self.api_key.prefix if self.api_key_id and self.api_key else None

    @property
    def recorded_by(self):
        return recorded_by(self)


def recorded_by(event) -> str | None:
    """Who recorded an event (a model instance or a feed row): the member, else the API key as the audit page names
    it (by its current name; once the key is deleted, as it was named when it recorded the event), else None
    (ActivityHub itself)."""
    if event.actor_name:
        return event.actor_name
    if event.api_key_prefix:
        return label_for_key(event.api_key_name, event.api_key_prefix)
    return getattr(event, "api_key_label", None) or None


# What a feed row shows; `pk`, `actor_name` and the key's columns make a row read like an ActivityEvent to the
# row tag (FEED_ANNOTATIONS joins them in).
FEED_COLUMNS = ("pk", "created_at", "event_type", "status", "title", "entity_type", "entity_id", "duration", "actor_name",
                "api_key_name", "api_key_prefix", "api_key_label")
FEED_ANNOTATIONS = {"actor_name": F("user__username"), "api_key_name": F("api_key__name"),
                    "api_key_prefix": F("api_key__prefix")}


class ActionStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    IN_PROGRESS = "in_progress", "In progress"


class ActionType(models.TextChoices):
    """The eight built-in action types; others are accepted too (the column is free text)."""

    PROJECT_CREATED = "project_created", "Project created"
    DATABASE_CREATED = "database_created", "Database created"
    ENDPOINTS_ADDED = "endpoints_added", "Endpoints added"
    QUERIES_EXECUTED = "queries_executed", "Queries executed"
    DEPLOYMENT = "deployment", "Deployment"
    GITHUB_PUSH = "github_push", "GitHub push"
    ENDPOINTS_MODIFIED = "endpoints_modified", "Endpoints modified"
    TABLES_ADDED = "tables_added", "Tables added"


def new_action_id() -> str:
    return secrets.token_urlsafe(16)


class AppendOnlyError(Exception):
    """The audit trail is append-only: rows are never changed or removed through the app."""


class ActionSource(models.TextChoices):
    WITNESSED = "witnessed", "Recorded by ActivityHub"
    REPORTED = "reported", "Reported by an integration"


class ActorType(models.TextChoices):
    USER = "user", "Member"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "ActivityHub"


class ProjectActionQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def witnessed(self):
        return self.filter(source=ActionSource.WITNESSED)

    def reported(self):
        return self.filter(source=ActionSource.REPORTED)

    def by_actor(self, text):
        """Entries whose actor's name (a username, or an API key's name or prefix) contains `text`."""
        text = (text or "").strip()
        return self.filter(actor_label__icontains=text) if text else self

    def bulk_create(self, objs, *args, **kwargs):
        # Every new entry takes its place in its project's hash chain (events/audit.py), however it is created.
        from .audit import chain

        objs = list(objs)
        with transaction.atomic(using=self.db):
            chain(objs, using=self.db)
            return super().bulk_create(objs, *args, **kwargs)

    def of_type(self, *action_types):
        return self.filter(action_type__in=action_types)

    def failed(self):
        return self.filter(status=ActionStatus.FAILED)

    def in_progress(self):
        return self.filter(status=ActionStatus.IN_PROGRESS)

    def succeeded(self):
        return self.filter(status=ActionStatus.SUCCESS)

    def since(self, moment):
        return self.filter(created_at__gte=moment)

    def before(self, moment):
        return self.filter(created_at__lt=moment)

    def today(self):
        return self.since(start_of_day())

    def search(self, text):
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(Q(action_details__icontains=text) | Q(action_type__icontains=text))

    def newest_first(self):
        return self.order_by("-created_at", "-action_id")

    # Append-only: bulk changes through the ORM are refused. (Deleting a project still removes its trail:
    # the foreign key cascades in the database, not through this queryset.)
    def update(self, **kwargs):
        raise AppendOnlyError("Audit actions are append-only and cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit actions are append-only and cannot be deleted.")

    # Django's documented flag that keeps these off the manager; the stubs do not model function attributes.
    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class ProjectAction(models.Model):
    """One line of the project's audit trail. Append-only: the app never updates or deletes these."""

    action_id = models.CharField(primary_key=True, max_length=32, default=new_action_id, editable=False)
    # action_project_created leads with project: no separate FK index (one index fewer per monthly partition).
    # Null: a change to something of no project (a site-wide health check); those form a chain of their own.
    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.DB_CASCADE,
                                related_name="actions", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="project_actions"
    )
    request_id = models.CharField(max_length=128, null=True, blank=True)
    action_type = models.CharField(max_length=64)
    action_details = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.SUCCESS)
    environment = models.CharField(max_length=32, default="development")
    created_at = models.DateTimeField(default=timezone.now)
    # Witnessed: ActivityHub saw the change happen. Reported: an integration said so (POST /api/v1/actions,
    # track_activity()); shown apart and marked with the key that reported it.
    source = models.CharField(max_length=16, choices=ActionSource.choices, default=ActionSource.REPORTED)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices, default=ActorType.SYSTEM)
    # The actor as it was named then (a username; “name” (ah_prefix_…) for a key; the job for ActivityHub itself).
    actor_label = models.CharField(max_length=200, blank=True)
    actor_key_prefix = models.CharField(max_length=16, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # {"field": [before, after]}, {"rows_removed": n}
    # The hash chain (events/audit.py): position in the project's chain, the previous entry's hash, this one's.
    sequence = models.BigIntegerField(null=True, blank=True, editable=False)
    # SHA-256 digests as 32 bytes (bytea; half the width of hex text on every row of a 1,000-row batch).
    prev_hash = models.BinaryField(max_length=32, blank=True, editable=False)
    entry_hash = models.BinaryField(max_length=32, blank=True, editable=False)

    objects = ProjectActionQuerySet.as_manager()

    class Meta:
        db_table = "project_actions"
        ordering = ["-created_at", "-action_id"]
        indexes = [
            models.Index(fields=["project", "-created_at", "-action_id"], name="action_project_created"),
            models.Index(fields=["project", "action_type", "-created_at"], name="action_project_type_created"),
            models.Index(fields=["project", "sequence"], name="action_project_sequence"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ActionStatus.values), name="action_status_valid"),
        ]

    def __str__(self):
        return f"{self.action_type}: {self.action_details[:60]}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit actions are append-only and cannot be changed.")
        from .audit import chain

        # Force an INSERT: with a default primary key Django would otherwise try an UPDATE first.
        kwargs["force_insert"] = True
        using = kwargs.get("using") or "default"
        with transaction.atomic(using=using):
            chain([self], using=using)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit actions are append-only and cannot be deleted.")

    def get_action_type_display(self):
        try:
            return ActionType(self.action_type).label
        except ValueError:
            return audit_label(self.action_type)

    @property
    def change_lines(self) -> list[tuple[str, str]]:
        """("retention_days", "180 → 30"), ("rows_removed", "1,204"): what the entry says changed, for people."""
        lines = []
        for name, value in (self.changes or {}).items():
            if isinstance(value, list) and len(value) == 2:
                before, after = ("—" if v is None or v == "" else str(v) for v in value)
                lines.append((name.replace("_", " "), f"{before} → {after}"))
            else:
                lines.append((name.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value)))
        return lines

    @property
    def is_reported(self) -> bool:
        return self.source == ActionSource.REPORTED

    @property
    def actor_display(self) -> str:
        if self.actor_label:
            return self.actor_label
        return self.user.get_username() if self.user_id and self.user else "ActivityHub"


# Labels for people; an action type not listed reads as its words, with initialisms kept ("API key created").
AUDIT_LABELS = {
    "api_key_created": "API key created",
    "api_key_revoked": "API key revoked",
    "feed_token_reset": "Feed link reset",
    "retention_changed": "Retention changed",
    "retention_pruned": "Old activity removed",
    "subscription_secret_rotated": "Webhook secret rotated",
    "schedule_ping_url_rotated": "Ping URL replaced",
    "anomaly_sensitivity_changed": "Anomaly sensitivity changed",
    "delivery_redelivered": "Notification redelivered",
    "subscription_test_delivery_sent": "Test delivery sent",
    "audit_check_failed": "Audit trail check failed",
    "message_events_cleared": "Answer feedback cleared",
    "health_check_run_requested": "Health check run now",
}
INITIALISMS = {"api": "API", "url": "URL", "sla": "SLA", "ip": "IP", "http": "HTTP"}


def audit_label(action_type: str) -> str:
    if action_type in AUDIT_LABELS:
        return AUDIT_LABELS[action_type]
    words = [INITIALISMS.get(w, w) for w in action_type.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]
