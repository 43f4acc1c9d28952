"""Every change to monitoring's settings goes through here — the pages, the API and the admin call these — and each
records itself in the audit trail (projects/audit.py). Runs, pings and metrics are reported data (monitoring/runs.py,
monitoring/ping.py), not settings.

A health check is saved column by column (`update_fields`): the daemon may be writing its claim and alert state on
the same row at that moment, and a whole-row save would overwrite them.
"""

from django.db import transaction
from django.utils import timezone

from projects.audit import record

from .models import HealthCheck, WorkflowAnomalySettings, WorkflowSchedule
from .models.schedules import ScheduleStatus
from .ping import rotate_ping_token

SCHEDULE_FIELDS = ("workflow_name", "environment", "cron_expression", "timezone", "grace_period_seconds", "status")
CHECK_FIELDS = ("check_name", "environment", "url", "method", "expected_status", "timeout_ms", "interval_seconds",
                "paused")


def snapshot(obj, fields) -> dict:
    return {name: getattr(obj, name) for name in fields}


def _schedule_target(schedule):
    return ("schedule", schedule.schedule_id)


def _check_target(check):
    return ("health_check", check.check_id)


# --- schedules -------------------------------------------------------------------------------------------------


def create_schedule(schedule: WorkflowSchedule) -> WorkflowSchedule:
    with transaction.atomic():
        schedule.save()
        record(schedule.project, "schedule_created", target=_schedule_target(schedule),
               environment=schedule.environment,
               details=f"Schedule for {schedule.workflow_name} created ({schedule.cron_expression}, {schedule.timezone})",
               after=snapshot(schedule, SCHEDULE_FIELDS))
    return schedule


def save_schedule(schedule: WorkflowSchedule, before: dict) -> WorkflowSchedule:
    """Save an edited schedule (`before`: its snapshot() as loaded). A new time recomputes the next run."""
    after = snapshot(schedule, SCHEDULE_FIELDS)
    timing = any(after[k] != before.get(k) for k in ("cron_expression", "timezone"))
    if before.get("status") != after["status"] or (timing and schedule.status == ScheduleStatus.ACTIVE):
        schedule.next_run_at = None  # paused: none; active: recomputed from now by save()
    with transaction.atomic():
        schedule.save()
        changed = [k for k in SCHEDULE_FIELDS if after[k] != before.get(k)]
        if changed == ["status"]:
            action = "schedule_paused" if schedule.status == ScheduleStatus.PAUSED else "schedule_resumed"
            details = f"Schedule for {schedule.workflow_name} {schedule.get_status_display().lower()}"
        else:
            action, details = "schedule_changed", f"Schedule for {schedule.workflow_name} changed"
        if changed:
            record(schedule.project, action, target=_schedule_target(schedule), environment=schedule.environment,
                   details=details, before=before, after=after)
    return schedule


def toggle_schedule(schedule: WorkflowSchedule) -> WorkflowSchedule:
    before = snapshot(schedule, SCHEDULE_FIELDS)
    schedule.status = ScheduleStatus.PAUSED if schedule.status == ScheduleStatus.ACTIVE else ScheduleStatus.ACTIVE
    return save_schedule(schedule, before)


def delete_schedule(schedule: WorkflowSchedule) -> None:
    with transaction.atomic():
        schedule.delete()
        record(schedule.project, "schedule_deleted", target=_schedule_target(schedule),
               environment=schedule.environment,
               details=f"Schedule for {schedule.workflow_name} deleted; its runs are kept",
               before=snapshot(schedule, SCHEDULE_FIELDS))


def rotate_schedule_ping_url(schedule: WorkflowSchedule) -> None:
    with transaction.atomic():
        rotate_ping_token(schedule)
        record(schedule.project, "schedule_ping_url_rotated", target=_schedule_target(schedule),
               environment=schedule.environment,
               details=f"{schedule.workflow_name} has a new ping URL; the old one no longer records runs")


# --- health checks ---------------------------------------------------------------------------------------------


def create_health_check(check: HealthCheck) -> HealthCheck:
    with transaction.atomic():
        check.save()
        record(check.project, "health_check_created", target=_check_target(check), environment=check.environment,
               details=f"Health check {check.check_name} added ({check.method} {check.url})",
               after=snapshot(check, CHECK_FIELDS))
    return check


def save_health_check(check: HealthCheck, before: dict) -> HealthCheck:
    """Save the settings that changed since `before` (its snapshot() as loaded), never the daemon's columns.
    A changed address or method, or a resumed check, runs at once."""
    after = snapshot(check, CHECK_FIELDS)
    changed = [k for k in CHECK_FIELDS if after[k] != before.get(k)]
    if not changed:
        return check
    fields = changed + ["updated_at"]
    if not check.paused and {"url", "method", "paused"} & set(changed):
        check.due_at = timezone.now()
        fields.append("due_at")
    with transaction.atomic():
        check.save(update_fields=fields)
        if changed == ["paused"]:
            action = "health_check_paused" if check.paused else "health_check_resumed"
            details = f"{check.check_name} {'paused' if check.paused else 'resumed'}"
        else:
            action, details = "health_check_changed", f"Health check {check.check_name} changed"
        record(check.project, action, target=_check_target(check), environment=check.environment, details=details,
               before=before, after=after)
    return check


def toggle_health_check(check: HealthCheck) -> HealthCheck:
    before = snapshot(check, CHECK_FIELDS)
    check.paused = not check.paused
    return save_health_check(check, before)


def run_checks_now(checks) -> int:
    """Make the unpaused `checks` due now (the admin's "Run selected checks now"): the daemon runs them on its next
    pass. Only `due_at` is written, as the edit does, so a claim in progress stands. Returns how many."""
    now, due = timezone.now(), [check for check in checks if not check.paused]
    with transaction.atomic():
        for check in due:
            HealthCheck.objects.filter(pk=check.pk).update(due_at=now)
            record(check.project, "health_check_run_requested", target=_check_target(check),
                   environment=check.environment, details=f"A run of {check.check_name} was asked for now")
    return len(due)


def delete_health_check(check: HealthCheck) -> None:
    with transaction.atomic():
        check.delete()
        record(check.project, "health_check_removed", target=_check_target(check), environment=check.environment,
               details=f"Health check {check.check_name} removed; its past results are kept",
               before=snapshot(check, CHECK_FIELDS))


# --- anomaly detection -----------------------------------------------------------------------------------------


def set_anomaly_sensitivity(project, workflow_name, environment, sensitivity) -> WorkflowAnomalySettings:
    with transaction.atomic():
        current = (WorkflowAnomalySettings.objects.select_for_update()
                   .filter(project=project, workflow_name=workflow_name, environment=environment).first())
        old = current.sensitivity if current else WorkflowAnomalySettings._meta.get_field("sensitivity").default
        settings, _ = WorkflowAnomalySettings.objects.update_or_create(
            project=project, workflow_name=workflow_name, environment=environment,
            defaults={"sensitivity": sensitivity},
        )
        if old != sensitivity:
            record(project, "anomaly_sensitivity_changed", target=("workflow", workflow_name),
                   environment=environment,
                   details=f"Anomaly detection for {workflow_name} ({environment}) set to {sensitivity}",
                   before={"sensitivity": old}, after={"sensitivity": sensitivity})
    return settings
