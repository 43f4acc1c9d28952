"""HTTP health checks: the configuration (HealthCheck, one row per check) and its results (SystemHealthCheck,
the system_health_checks table: one row per time the check ran).

The daemon claims a due, unpaused check, probes it, then in one transaction stores the result row and moves the
check's due_at by its interval. A check's alert state lives on the check, so a check that stays down alerts once.
"""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from outbound import validate_outbound_url

from .environments import environment_field

# Only what the probe can speak: an ftp:// URL would otherwise be stored and fail later with a misleading error.
CHECK_URL_SCHEMES = ["http", "https"]
validate_check_url = URLValidator(schemes=CHECK_URL_SCHEMES, message="Enter an http:// or https:// URL.")
MAX_CHECK_INTERVAL_SECONDS = 7 * 24 * 3600


class CheckStatus(models.TextChoices):
    HEALTHY = "HEALTHY", "Healthy"
    UNHEALTHY = "UNHEALTHY", "Unhealthy"


RESULT_STATUSES = [CheckStatus.HEALTHY, CheckStatus.UNHEALTHY]


class CheckMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"


class CheckAlert(models.TextChoices):
    OK = "OK", "Healthy (or recovery announced)"
    FAILING = "FAILING", "Down (alerted)"


class HealthCheckQuerySet(models.QuerySet):
    def in_scope(self, project):
        """The checks whose ids a new check's id must differ from: the same project's, or the project-less ones."""
        return self.filter(project=project) if project is not None else self.filter(project__isnull=True)

    def active(self):
        return self.filter(paused=False)

    def due(self, now):
        """Unpaused, due and not claimed by a running daemon."""
        return self.filter(paused=False, due_at__lte=now, claimed_by__isnull=True)

    def stale_claims(self, before):
        """Claimed by a daemon that stopped before writing the result."""
        return self.filter(claimed_by__isnull=False, claimed_at__lt=before)

    def down(self):
        return self.filter(alert_state=CheckAlert.FAILING)


class HealthCheck(models.Model):
    """What to check and how often; listed once in the admin and on the health board."""

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.DB_CASCADE, related_name="health_checks",
        help_text="The project whose API keys may manage the check",
    )
    check_id = models.SlugField(
        max_length=100, help_text="Identifies the check and its results; unique in its project (or among checks "
        "without one), so a project's API key learns nothing of other projects' checks",
    )
    check_name = models.CharField(max_length=200)
    environment = environment_field()
    url = models.URLField(max_length=2000, validators=[validate_check_url])
    method = models.CharField(max_length=8, choices=CheckMethod.choices, default=CheckMethod.GET)
    expected_status = models.PositiveSmallIntegerField(default=200)
    timeout_ms = models.PositiveIntegerField(default=5000)
    interval_seconds = models.PositiveIntegerField(default=60)
    paused = models.BooleanField(default=False)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    alert_state = models.CharField(max_length=16, choices=CheckAlert.choices, default=CheckAlert.OK)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HealthCheckQuerySet.as_manager()

    class Meta:
        db_table = "health_checks"
        ordering = ["check_name", "check_id"]
        indexes = [models.Index(fields=["paused", "due_at"], name="healthcheck_config_due")]
        constraints = [
            models.UniqueConstraint(fields=["project", "check_id"], condition=Q(project__isnull=False),
                                    name="healthcheck_id_per_project"),
            models.UniqueConstraint(fields=["check_id"], condition=Q(project__isnull=True),
                                    name="healthcheck_id_without_project"),
            models.CheckConstraint(condition=Q(method__in=CheckMethod.values), name="healthcheck_config_method_valid"),
            models.CheckConstraint(condition=Q(alert_state__in=CheckAlert.values), name="healthcheck_config_alert_valid"),
            models.CheckConstraint(
                condition=Q(expected_status__gte=100, expected_status__lte=599),
                name="healthcheck_config_expected_status_http",
            ),
            models.CheckConstraint(
                condition=Q(timeout_ms__gte=100, timeout_ms__lte=60000), name="healthcheck_config_timeout_range"
            ),
            models.CheckConstraint(condition=Q(interval_seconds__gte=10), name="healthcheck_config_interval_min"),
        ]

    def __str__(self):
        return f"{self.check_name} ({self.method} {self.url})"

    def clean(self):
        super().clean()
        # The daemon will request this URL: refuse internal targets when it is saved (form, admin and API alike).
        if self.url:
            try:
                validate_outbound_url(self.url)
            except ValidationError as exc:
                raise ValidationError({"url": exc.messages}) from None

    @property
    def is_running(self):
        return self.claimed_by is not None


class SystemHealthCheckQuerySet(models.QuerySet):
    def results(self):
        return self.filter(status__in=RESULT_STATUSES)

    def for_check(self, check_id):
        return self.filter(check_id=check_id)


class SystemHealthCheck(models.Model):
    """One result of a check (the system_health_checks columns). Kept when the check is removed (health_check becomes null)."""

    health_check = models.ForeignKey(
        HealthCheck, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="results"
    )
    check_id = models.SlugField(max_length=100, help_text="The check's id when it ran")
    check_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=CheckStatus.choices)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    expected_status = models.PositiveSmallIntegerField(default=200)
    actual_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    execution = models.ForeignKey(
        "monitoring.WorkflowExecution",
        null=True,
        blank=True,
        on_delete=models.DB_SET_NULL,
        related_name="health_checks",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SystemHealthCheckQuerySet.as_manager()

    class Meta:
        db_table = "system_health_checks"
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["check_id", "-checked_at"], name="healthcheck_check_time"),
            models.Index(fields=["health_check", "-checked_at"], name="healthcheck_result_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CheckStatus.values), name="healthcheck_result_status_valid"),
        ]

    def __str__(self):
        return f"{self.check_name} ({self.status})"
