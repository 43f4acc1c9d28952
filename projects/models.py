import functools
import hashlib
import hmac
import re
import secrets
from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

DEFAULT_RETENTION_DAYS = 180
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 3650


class Project(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Days of activity events and audit actions kept (prune_activity); GitHub's audit log keeps 180.
    retention_days = models.PositiveIntegerField(
        default=DEFAULT_RETENTION_DAYS,
        validators=[MinValueValidator(MIN_RETENTION_DAYS), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text=f"Activity older than this is removed ({MIN_RETENTION_DAYS}–{MAX_RETENTION_DAYS} days).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("projects:console", args=[self.slug])


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class MembershipQuerySet(models.QuerySet):
    def owners(self):
        return self.filter(role=Role.OWNER)

    def of_user(self, user):
        """The user's memberships with their projects, by project name (home and the projects page)."""
        return self.filter(user=user).select_related("project").order_by("project__name")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_one_per_user_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self):
        return f"{self.user} · {self.project} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (Role.OWNER, Role.EDITOR)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


class LastOwnerError(Exception):
    """Raised when a change would leave a project without an owner."""


def _other_owners_exist(membership) -> bool:
    # Lock the project's owner rows so two owners demoting each other at once cannot both succeed.
    owners = list(
        Membership.objects.select_for_update().filter(project_id=membership.project_id, role=Role.OWNER)
    )
    return any(m.pk != membership.pk for m in owners)


def change_role(membership, role):
    with transaction.atomic():
        if membership.is_owner and role != Role.OWNER and not _other_owners_exist(membership):
            raise LastOwnerError("A project needs at least one owner: make someone else an owner first.")
        membership.role = role
        membership.save(update_fields=["role"])


def remove_member(membership):
    with transaction.atomic():
        if membership.is_owner and not _other_owners_exist(membership):
            raise LastOwnerError("The last owner cannot be removed: make someone else an owner first.")
        membership.delete()


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def create_key(self, *, project, name, scope=ApiKeyScope.READ, created_by=None):
        """Create a key; returns (api_key, full_token). The full token is never stored and shown only once."""
        prefix = secrets.token_hex(4)
        token = f"ah_{prefix}_{secrets.token_urlsafe(24)}"
        key = self.create(
            project=project, name=name, scope=scope, prefix=prefix, key_hash=hash_api_token(token), created_by=created_by
        )
        return key, token

    def authenticate(self, token: str):
        """The active key for a full token (with `.project` loaded), or None.

        Looks up by prefix and compares keyed hashes in constant time. The key is read from the database on
        every call, so a revocation takes effect at once in every worker. This runs on every API request, so it
        is one SQL statement written once, its row turned into instances by the public `Model.from_db`: compiling
        `active().select_related("project")` each time (or a RawQuerySet's column mapping) cost as much CPU as
        the rest of a feed request's Django work.
        """
        # Refuse anything not shaped like our tokens before touching the database (no odd bytes in queries).
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            return None
        sql, key_fields, project_fields = _key_lookup()
        # Always the primary, never a read replica: a new key works and a revoked one stops at once.
        db = DEFAULT_DB_ALIAS
        with connections[db].cursor() as cursor:
            cursor.execute(sql, [token.split("_")[1]])
            row = cursor.fetchone()
        if row is None:
            return None
        values = dict(zip(key_fields, row, strict=False))
        if not hmac.compare_digest(values["key_hash"], hash_api_token(token)):
            return None
        # Every column read is text or a number on both backends but last_used_at (see _as_datetime); revoked_at
        # is NULL by the query; the columns left out are deferred and load if read.
        values["last_used_at"], values["revoked_at"] = _as_datetime(values["last_used_at"]), None
        key = ApiKey.from_db(db, key_fields, [values[name] for name in key_fields])
        key.project = Project.from_db(db, project_fields, row[len(key_fields) - 1 :])
        return key


_KEY_COLUMNS = {"id", "project_id", "scope", "key_hash", "last_used_at", "revoked_at"}
_KEY_PROJECT_COLUMNS = {"id", "name", "slug", "description", "created_by_id"}


@functools.cache
def _key_lookup():
    """(SQL, key field names, project field names): from_db takes values in the model's field order."""
    keys = [f for f in ApiKey._meta.concrete_fields if f.attname in _KEY_COLUMNS]
    projects = [f for f in Project._meta.concrete_fields if f.attname in _KEY_PROJECT_COLUMNS]
    key_fields, project_fields = [f.attname for f in keys], [f.attname for f in projects]
    if key_fields[-1] != "revoked_at":  # not selected: always NULL here, so it must come last
        raise RuntimeError(f"ApiKey's last looked-up field is {key_fields[-1]}, not revoked_at")
    key_columns = ", ".join(f'k."{f.column}"' for f in keys[:-1])
    project_columns = ", ".join(f'p."{f.column}"' for f in projects)
    sql = (
        f'SELECT {key_columns}, {project_columns} FROM "{ApiKey._meta.db_table}" k '
        f'JOIN "{Project._meta.db_table}" p ON p."id" = k."project_id" WHERE k."prefix" = %s AND k."revoked_at" IS NULL'
    )
    return sql, key_fields, project_fields


def _as_datetime(value):
    """A timestamp column as the ORM returns it: PostgreSQL's driver gives an aware datetime, SQLite's a naive one
    (or text) in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


_TOKEN_SHAPE = re.compile(r"ah_[0-9a-f]{8}_[A-Za-z0-9_-]{16,64}")


def hash_api_token(token: str) -> str:
    """Keyed hash (HMAC-SHA256 with API_KEY_HASH_SECRET, default SECRET_KEY): a leaked table is useless alone."""
    secret = getattr(settings, "API_KEY_HASH_SECRET", None) or settings.SECRET_KEY
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class ApiKey(models.Model):
    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key, shown in lists")
    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(scope__in=ApiKeyScope.values), name="apikey_scope_valid")]

    def __str__(self):
        return f"{self.name} (ah_{self.prefix}_…)"

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.WRITE and self.revoked_at is None


# --- audit streaming -------------------------------------------------------------------------------


class AuditStreamQuerySet(models.QuerySet):
    def active(self):
        return self.filter(paused=False)


class AuditStream(models.Model):
    """A project's audit trail streamed to a webhook as it is written (GitHub's audit log streaming).

    The scheduler's `stream-audit-webhooks` job (notifications/audit_stream.py) sends the entries after
    `sent_sequence` in order, in signed batches through the one delivery engine (outbound.engine, stream "audit");
    `sent_sequence` moves only when a batch was answered 2xx, so nothing is skipped, and a delivered batch is
    never sent again. Changes go through projects/actions.py (audited); the secret is shown once, when made.
    """

    project = models.OneToOneField(Project, on_delete=models.DB_CASCADE, related_name="audit_stream")
    url = models.URLField(max_length=500, help_text="An https URL; in production, private, loopback and link-local addresses are refused")
    secret = models.CharField(max_length=100)
    paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True)
    sent_sequence = models.BigIntegerField(default=0, help_text="The place in the chain of the last entry delivered")
    batches = models.PositiveIntegerField(default=0, help_text="Batches started; names each batch's delivery")
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AuditStreamQuerySet.as_manager()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(sent_sequence__gte=0), name="audit_stream_sequence_valid")]

    def __str__(self):
        return f"audit stream of {self.project} to {self.host}"

    @property
    def destination(self) -> str:
        """How the delivery log names it (outbound.models.Delivery.destination)."""
        return audit_stream_destination(self.pk)

    @property
    def host(self) -> str:
        """The URL as the audit trail and the pages name it: its host only (the URL may itself be a credential)."""
        parts = urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else ""


def audit_stream_destination(pk) -> str:
    return f"audit_stream:{pk}"


# --- API idempotency -------------------------------------------------------------------------------


class IdempotencyRecordQuerySet(models.QuerySet):
    def expired(self, hours=24):
        """Records older than the replay window; safe to prune (a retry that late creates a new object)."""
        from datetime import timedelta

        from django.utils import timezone

        return self.filter(created_at__lt=timezone.now() - timedelta(hours=hours))


class IdempotencyRecord(models.Model):
    """The stored response of one API write made with an `Idempotency-Key` header, replayed on retries.

    The row is inserted in the same transaction as the write it guards, so either both exist or neither; a
    concurrent retry blocks on the unique constraint until the first attempt commits, then replays it.
    """

    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    # Method, path and a SHA-256 of the body: reusing a key for a different request is refused, not replayed.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = IdempotencyRecordQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="idempotency_key_unique_per_project")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self):
        return f"{self.key} → {self.status_code}"
