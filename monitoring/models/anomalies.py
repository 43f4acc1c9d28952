"""Anomalies found in a workflow's own history (monitoring/anomalies.py finds them) and how sensitive to be."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .environments import environment_field


class AnomalyKind(models.TextChoices):
    DURATION = "duration", "Unusual duration"
    FAILURE_RATE = "failure_rate", "Failure-rate spike"
    VOLUME = "volume", "Unusual number of runs"


class AnomalyStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLEARED = "CLEARED", "Back to normal"


class Sensitivity(models.TextChoices):
    OFF = "off", "Off"
    LOW = "low", "Low (only the most unusual)"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High (smaller deviations too)"


class WorkflowAnomalySettings(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    workflow_name = models.CharField(max_length=200)
    environment = environment_field()
    sensitivity = models.CharField(max_length=8, choices=Sensitivity.choices, default=Sensitivity.NORMAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "workflow_anomaly_settings"
        verbose_name_plural = "workflow anomaly settings"
        constraints = [
            models.UniqueConstraint(fields=["project", "workflow_name", "environment"], name="anomaly_settings_one"),
            models.CheckConstraint(condition=Q(sensitivity__in=Sensitivity.values), name="anomaly_sensitivity_valid"),
        ]

    def __str__(self):
        return f"{self.workflow_name} [{self.environment}]: {self.sensitivity}"


class WorkflowAnomalyQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=AnomalyStatus.OPEN)


class WorkflowAnomaly(models.Model):
    """One finding, from the moment it was seen until behaviour returned to normal; alerted once each way."""

    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="+")
    workflow_name = models.CharField(max_length=200)
    environment = environment_field()
    kind = models.CharField(max_length=16, choices=AnomalyKind.choices)
    status = models.CharField(max_length=8, choices=AnomalyStatus.choices, default=AnomalyStatus.OPEN)
    reason = models.CharField(max_length=300, help_text="Why, in plain words: 'took 41 min, usually 12–15 min'")
    observed = models.FloatField(help_text="The duration (ms) or failure rate (0–1) that was unusual")
    usual_low = models.FloatField(null=True, blank=True)
    usual_high = models.FloatField(null=True, blank=True)
    score = models.FloatField(help_text="How far outside the usual range, in robust standard deviations")
    execution = models.ForeignKey(
        "monitoring.WorkflowExecution", null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="anomalies",
        help_text="The run that was unusual (duration findings)",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_reason = models.CharField(max_length=300, blank=True, default="")

    objects = WorkflowAnomalyQuerySet.as_manager()

    class Meta:
        db_table = "workflow_anomalies"
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["project", "workflow_name", "environment", "-opened_at"], name="anomaly_workflow")]
        constraints = [
            # Two daemons finding the same thing: the second insert fails instead of alerting twice.
            models.UniqueConstraint(
                fields=["project", "workflow_name", "environment", "kind"], condition=Q(status="OPEN"),
                name="anomaly_one_open_per_kind",
            ),
            models.CheckConstraint(condition=Q(kind__in=AnomalyKind.values), name="anomaly_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=AnomalyStatus.values), name="anomaly_status_valid"),
        ]

    def __str__(self):
        return f"{self.workflow_name} [{self.environment}] {self.kind}: {self.reason}"
