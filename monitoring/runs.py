"""Recording workflow runs reported by integrating services: start, finish, metrics. Used by the API and demo."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from .live import announce
from .models import (
    DEFAULT_ENVIRONMENT,
    RunAlert,
    RunStatus,
    ScheduleAlert,
    WorkflowExecution,
    WorkflowMetrics,
    WorkflowSchedule,
)
from .rollup import add_finished_run

# Sent once a run is finished (after the commit), with `execution`: notifications tells who watches it.
run_finished = Signal()


class RunConflict(Exception):
    """The request contradicts what is already stored (HTTP 409)."""


class RunInvalid(Exception):
    """The request is well-formed but impossible (HTTP 422)."""


def start_run(project, *, run_id, workflow_name, started_at, triggered_by=None, environment=DEFAULT_ENVIRONMENT):
    """Record a run's start. Returns (execution, created); repeating the same start returns the stored run."""
    existing = WorkflowExecution.objects.filter(project=project, run_id=run_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                execution = WorkflowExecution.objects.create(
                    project=project,
                    run_id=run_id,
                    workflow_name=workflow_name,
                    environment=environment,
                    started_at=started_at,
                    triggered_by=triggered_by,
                )
                _count_scheduled_run(execution)
                announce("run")
            return execution, True
        except IntegrityError:
            # The same start arrived twice at once: the other request stored it.
            existing = WorkflowExecution.objects.get(project=project, run_id=run_id)
    if existing.workflow_name != workflow_name:
        raise RunConflict(
            f"Run '{run_id}' was started for workflow '{existing.workflow_name}', not '{workflow_name}'."
        )
    if existing.environment != environment:
        raise RunConflict(f"Run '{run_id}' was started in environment '{existing.environment}', not '{environment}'.")
    return existing, False


def _count_scheduled_run(execution):
    """A run of a scheduled workflow counts for its schedule and moves the expected next run."""
    schedule = (
        WorkflowSchedule.objects.select_for_update().active().for_run(execution).first()
    )
    if schedule is None:
        return
    # A run up to the grace period early counts for the expected time, so next_run_at is computed from there.
    schedule.next_run_at = schedule.compute_next_run(execution.started_at + timedelta(seconds=schedule.grace_period_seconds))
    if schedule.last_run_at is None or execution.started_at > schedule.last_run_at:
        schedule.last_run_at = execution.started_at
    schedule.run_count = F("run_count") + 1
    if schedule.alert_state == ScheduleAlert.LATE:
        schedule.alert_state = ScheduleAlert.RECOVERED  # the daemon announces it
    schedule.save(update_fields=["next_run_at", "last_run_at", "run_count", "alert_state", "updated_at"])


def finish_run(project, run_id, *, status, completed_at, tests_passed=None, tests_failed=None, tests_total=None,
               error_message=None, error_stack=None, timed=True):
    """Record a run's outcome. Repeating the same finish returns the stored run; a different outcome is a conflict.
    `timed=False`: the start was not reported (a bare ping), so the run has no duration rather than 0 ms."""
    execution = WorkflowExecution.objects.filter(project=project, run_id=run_id).first()
    if execution is None:
        return None
    if completed_at < execution.started_at:
        raise RunInvalid(
            f"completed_at ({completed_at.isoformat()}) is before the run started ({execution.started_at.isoformat()})."
        )
    if None not in (tests_passed, tests_failed, tests_total) and tests_passed + tests_failed > tests_total:
        raise RunInvalid(f"tests_passed + tests_failed ({tests_passed + tests_failed}) exceeds tests_total ({tests_total}).")
    with transaction.atomic():
        # Only the first finish moves the run out of RUNNING, so a retried or concurrent finish counts once.
        changed = WorkflowExecution.objects.filter(pk=execution.pk, status=RunStatus.RUNNING).update(
            status=status,
            completed_at=completed_at,
            duration_ms=int((completed_at - execution.started_at) / timedelta(milliseconds=1)) if timed else None,
            tests_passed=tests_passed,
            tests_failed=tests_failed,
            tests_total=tests_total,
            error_message=error_message,
            error_stack=error_stack,
            alert_state=RunAlert.PENDING,
            updated_at=timezone.now(),  # update() skips auto_now; dashboards watch updated_at for changes
        )
        execution.refresh_from_db()
        if changed:
            counter = {RunStatus.SUCCESS: "success_count", RunStatus.FAILED: "failure_count"}.get(status)
            if counter:
                WorkflowSchedule.objects.for_run(execution).update(**{counter: F(counter) + 1})
            add_finished_run(execution)
            announce("run")
            finished = execution
            transaction.on_commit(lambda: run_finished.send(sender=WorkflowExecution, execution=finished))
            return execution
    if execution.status != status:
        raise RunConflict(f"Run '{run_id}' already finished as {execution.status}; it cannot become {status}.")
    return execution


def record_metric(project, *, workflow_id, metric_name, metric_value, recorded_at, metric_unit=None,
                  threshold_value=None, is_within_threshold=None, execution=None):
    """Store a measurement; the same (workflow, metric, moment) posted again returns the stored row."""
    if is_within_threshold is None and threshold_value is not None:
        is_within_threshold = metric_value <= threshold_value
    lookup = {"project": project, "workflow_id": workflow_id, "metric_name": metric_name, "recorded_at": recorded_at}
    existing = WorkflowMetrics.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return WorkflowMetrics.objects.create(
                **lookup,
                metric_value=metric_value,
                metric_unit=metric_unit,
                threshold_value=threshold_value,
                is_within_threshold=is_within_threshold,
                execution=execution,
            ), True
    except IntegrityError:
        return WorkflowMetrics.objects.get(**lookup), False
