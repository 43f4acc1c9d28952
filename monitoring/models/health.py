"""HTTP health checks. Each row of system_health_checks is one occurrence of a check.

The open row of a check (PENDING, RUNNING or PAUSED; at most one per check_id, enforced by a partial unique
constraint) carries its configuration and when it is due. Running it turns that row into the stored result
(HEALTHY/UNHEALTHY with response time, status code and error) and inserts the next open row, in one transaction.
So the table is both the check list and the full result history, as its columns suggest.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from outbound import validate_outbound_url


class CheckStatus(models.TextChoices):
    PENDING = "PENDING", "Scheduled"
    RUNNING = "RUNNING", "Running"
    PAUSED = "PAUSED", "Paused"
    HEALTHY = "HEALTHY", "Healthy"
    UNHEALTHY = "UNHEALTHY", "Unhealthy"


OPEN_STATUSES = [CheckStatus.PENDING, CheckStatus.RUNNING, CheckStatus.PAUSED]
RESULT_STATUSES = [CheckStatus.HEALTHY, CheckStatus.UNHEALTHY]


class CheckMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"


class CheckAlert(models.TextChoices):
    OK = "OK", "Healthy (or recovery announced)"
    FAILING = "FAILING", "Down (alerted)"


class SystemHealthCheckQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def results(self):
        return self.filter(status__in=RESULT_STATUSES)

    def due(self, now):
        return self.filter(status=CheckStatus.PENDING, due_at__lte=now)

    def stale_running(self, before):
        """Claimed by a daemon that stopped before writing the result."""
        return self.filter(status=CheckStatus.RUNNING, claimed_at__lt=before)

    def for_check(self, check_id):
        return self.filter(check_id=check_id)


class SystemHealthCheck(models.Model):
    check_id = models.SlugField(max_length=100, help_text="Identifies the check across its occurrences")
    check_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=CheckStatus.choices, default=CheckStatus.PENDING)
    url = models.URLField(max_length=2000)
    method = models.CharField(max_length=8, choices=CheckMethod.choices, default=CheckMethod.GET)
    expected_status = models.PositiveSmallIntegerField(default=200)
    timeout_ms = models.PositiveIntegerField(default=5000)
    interval_seconds = models.PositiveIntegerField(default=60)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    actual_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    # Carried from each occurrence to the next: a check that stays down alerts once.
    alert_state = models.CharField(max_length=16, choices=CheckAlert.choices, default=CheckAlert.OK)
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
            models.Index(fields=["status", "due_at"], name="healthcheck_status_due"),
            models.Index(fields=["check_id", "-checked_at"], name="healthcheck_check_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["check_id"], condition=Q(status__in=OPEN_STATUSES), name="healthcheck_one_open_per_check"
            ),
            models.CheckConstraint(condition=Q(status__in=CheckStatus.values), name="healthcheck_status_valid"),
            models.CheckConstraint(condition=Q(method__in=CheckMethod.values), name="healthcheck_method_valid"),
            models.CheckConstraint(condition=Q(alert_state__in=CheckAlert.values), name="healthcheck_alert_valid"),
            models.CheckConstraint(
                condition=Q(expected_status__gte=100, expected_status__lte=599), name="healthcheck_expected_status_http"
            ),
            models.CheckConstraint(
                condition=Q(timeout_ms__gte=100, timeout_ms__lte=60000), name="healthcheck_timeout_range"
            ),
            models.CheckConstraint(condition=Q(interval_seconds__gte=10), name="healthcheck_interval_min"),
        ]

    def __str__(self):
        return f"{self.check_name} ({self.status})"

    def clean(self):
        super().clean()
        # The daemon will request this URL: refuse internal targets when it is saved (form and admin alike).
        if self.url:
            try:
                validate_outbound_url(self.url)
            except ValidationError as exc:
                raise ValidationError({"url": exc.messages}) from None

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES
