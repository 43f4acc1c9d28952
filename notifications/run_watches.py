"""A finished run, told to the members who watch it or its workflow (a watch from the monitoring pages).

One delivery per watcher and outcome, by e-mail like every personal watch, through the same delivery log, retries
and redelivery as the project's events.
"""

from django.db.models import Q
from django.tasks import task
from django.urls import reverse

from lib.urls import absolute_url
from monitoring.models import RunStatus, WorkflowExecution
from projects.durations import format_duration

from . import sending
from .matching import project_ref
from .models import Source, Watch, new_delivery_id
from .watching import WORKFLOW, WORKFLOW_RUN

OUTCOME = {RunStatus.SUCCESS: "succeeded", RunStatus.FAILED: "failed", RunStatus.CANCELLED: "was cancelled"}


def watchers(run) -> list[int]:
    """The user ids that watch this run or its workflow, once each."""
    watched = Q(entity_type=WORKFLOW_RUN, entity_id=run.run_id) | Q(entity_type=WORKFLOW, entity_id=run.workflow_name)
    return sorted(set(Watch.objects.filter(watched, project_id=run.project_id).values_list("user_id", flat=True)))


def describe(run) -> tuple[str, str]:
    """(subject, text) a manager would write: what happened, how long it took, and where to look."""
    outcome = OUTCOME.get(run.status, run.get_status_display().lower())
    took = f" after {format_duration(run.duration_ms)}" if run.duration_ms is not None else ""
    subject = f"[{run.project.name}] {run.workflow_name} {outcome}{took}"
    lines = [f"{run.workflow_name} {outcome}{took} (run {run.run_id}, {run.environment})."]
    if run.status == RunStatus.FAILED and run.error_message:
        lines.append(f"Error: {run.error_message}")
    lines.append(f"See the run: {absolute_url(reverse('monitoring:run_detail', args=[run.pk]))}")
    lines.append(f"Stop watching it: {absolute_url(reverse('notifications:preferences'))}")
    return subject, "\n".join(lines)


def deliver_finished_run(run_pk: int, *, now=None) -> int:
    """Store and send one attempt per watcher; a second call for the same outcome stores nothing new."""
    run = WorkflowExecution.objects.select_related("project").filter(pk=run_pk).first()
    if run is None or run.status == RunStatus.RUNNING:
        return 0
    subject, text = describe(run)
    payload = {"project": project_ref(run.project), "run": {
        "run_id": run.run_id, "workflow_name": run.workflow_name, "environment": run.environment,
        "status": run.status, "duration_ms": run.duration_ms, "error_message": run.error_message,
    }}
    sent = 0
    for user_id in watchers(run):
        stored = sending._store(project=run.project, source=Source.RUN, source_id=f"{run.pk}:{run.status}",
                                recipient_id=user_id, subject=subject, text=text, delivery_id=new_delivery_id(),
                                event_type=f"run.{run.status.lower()}", payload=payload)
        if stored is not None:
            sending.attempt(stored, now=now)
            sent += 1
    return sent


@task
def deliver_run(run_pk: int) -> int:
    return deliver_finished_run(run_pk)
