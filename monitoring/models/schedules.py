"""Workflow schedules: the cron expression a workflow is expected to follow, and whether it did."""

import secrets
import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.cron import CronError, FireTime, fire_time, next_fire, validate_cron, validate_timezone

from .environments import environment_field


def new_schedule_id() -> str:
    return f"sch_{secrets.token_hex(6)}"


class ScheduleStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"


class ScheduleAlert(models.TextChoices):
    OK = "OK", "On time"
    LATE = "LATE", "Missed its window (alerted)"
    RECOVERED = "RECOVERED", "Ran again after being late (recovery to announce)"


class WorkflowScheduleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=ScheduleStatus.ACTIVE)

    def overdue(self, now):
        """Active, not yet alerted schedules whose expected run time has passed (grace is checked by `is_missed`)."""
        return self.active().filter(alert_state=ScheduleAlert.OK, next_run_at__lt=now)

    def still_late(self, now):
        """Late (already alerted) schedules whose next expected run time has passed as well."""
        return self.active().filter(alert_state=ScheduleAlert.LATE, next_run_at__lt=now)

    def recovered(self):
        return self.filter(alert_state=ScheduleAlert.RECOVERED)

    def for_run(self, execution):
        return self.filter(
            project_id=execution.project_id, workflow_name=execution.workflow_name, environment=execution.environment
        )


class WorkflowSchedule(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.DB_CASCADE, related_name="workflow_schedules")
    schedule_id = models.CharField(max_length=64, unique=True, default=new_schedule_id, editable=False)
    workflow_name = models.CharField(max_length=200)
    environment = environment_field()
    cron_expression = models.CharField(
        max_length=100, help_text="Five fields: minute hour day-of-month month day-of-week, e.g. 0 6 * * 1-5"
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name the cron expression is read in")
    grace_period_seconds = models.PositiveIntegerField(
        default=300, help_text="How long after the expected time a run may start before it counts as missed"
    )
    status = models.CharField(max_length=16, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE)
    alert_state = models.CharField(max_length=16, choices=ScheduleAlert.choices, default=ScheduleAlert.OK)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    # The secret in the schedule's ping URL (/ping/<token>): whoever knows it can report runs, nothing else.
    ping_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowScheduleQuerySet.as_manager()

    class Meta:
        db_table = "workflow_schedules"
        ordering = ["workflow_name", "id"]
        indexes = [models.Index(fields=["status", "next_run_at"], name="schedule_status_next_run")]
        constraints = [
            # Runs are matched to their schedule by (project, workflow_name, environment): it must be unambiguous.
            models.UniqueConstraint(fields=["project", "workflow_name", "environment"], name="schedule_one_per_workflow_environment"),
            models.CheckConstraint(condition=Q(status__in=ScheduleStatus.values), name="schedule_status_valid"),
            models.CheckConstraint(condition=Q(alert_state__in=ScheduleAlert.values), name="schedule_alert_valid"),
        ]

    def __str__(self):
        return f"{self.workflow_name} ({self.cron_expression} {self.timezone})"

    def save(self, *args, **kwargs):
        # next_run_at always follows the expression: computed on create and whenever it is missing.
        if self.next_run_at is None and self.status == ScheduleStatus.ACTIVE:
            self.next_run_at = self.compute_next_run()
            if "update_fields" in kwargs and kwargs["update_fields"] is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "next_run_at"}
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        try:
            self.cron_expression = validate_cron(self.cron_expression)
        except CronError as exc:
            errors["cron_expression"] = str(exc)
        try:
            validate_timezone(self.timezone)
        except CronError as exc:
            errors["timezone"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def compute_next_run(self, after=None):
        return next_fire(self.cron_expression, self.timezone, after or timezone.now())

    def is_missed(self, now):
        return self.next_run_at is not None and now > self.next_run_at + timedelta(seconds=self.grace_period_seconds)

    @property
    def is_late(self):
        return self.alert_state == ScheduleAlert.LATE

    def on_its_clock(self, moment) -> FireTime | None:
        """A moment as this schedule reads it: in its own time zone and in UTC."""
        return fire_time(moment, self.timezone) if moment is not None else None

    @property
    def next_run(self) -> FireTime | None:
        return self.on_its_clock(self.next_run_at)

    @property
    def last_run(self) -> FireTime | None:
        return self.on_its_clock(self.last_run_at)
