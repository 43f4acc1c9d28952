"""A finished run, told to the members who watch it or its workflow (a watch from the monitoring pages).

One delivery per watcher and outcome, by e-mail like every personal watch, through the same delivery log, retries
and redelivery as the project's events.
"""

from django.db.models import Q
from django.tasks import task
from django.urls import reverse

from lib.urls import absolute_url
from monitoring.models import RunStatus, WorkflowExecution
from outbound import engine, rendering
from outbound.models import new_delivery_id
from outbound.rendering import Notice
from projects.durations import format_duration

from . import sending, words
from .matching import project_ref
from .models import Source, Watch
from .watching import WORKFLOW, WORKFLOW_RUN

OUTCOME = {RunStatus.SUCCESS: "succeeded", RunStatus.FAILED: "failed", RunStatus.CANCELLED: "was cancelled"}


def watchers(run) -> list[int]:
    """The user ids that watch this run or its workflow, once each."""
    watched = Q(entity_type=WORKFLOW_RUN, entity_id=run.run_id) | Q(entity_type=WORKFLOW, entity_id=run.workflow_name)
    return sorted(set(Watch.objects.filter(watched, project_id=run.project_id).values_list("user_id", flat=True)))


def notice_for_run(run, *, delivery_id, recipient_id) -> Notice:
    """What a watcher reads: what happened, how long it took, the error, and where to look or stop watching."""
    outcome = OUTCOME.get(run.status, run.get_status_display().lower())
    took = f" after {format_duration(run.duration_ms)}" if run.duration_ms is not None else ""
    details = [f"Run {run.run_id} in {run.environment}."]
    if run.status == RunStatus.FAILED and run.error_message:
        details.append(f"Error: {run.error_message}")
    return Notice(
        event_type=f"run.{run.status.lower()}", delivery_id=delivery_id,
        sentence=f"{run.workflow_name} {outcome}{took} in {run.project.name}", details=tuple(details),
        event_url=absolute_url(reverse("monitoring:run_detail", args=[run.pk])),
        manage_url=absolute_url(reverse("notifications:preferences")),
        unsubscribe_url=absolute_url(reverse("notifications:unsubscribe",
                                             args=[words.unsubscribe_token(recipient_id, run.project_id)])),
        data={"project": project_ref(run.project), "run": {
            "run_id": run.run_id, "workflow_name": run.workflow_name, "environment": run.environment,
            "status": run.status, "duration_ms": run.duration_ms, "error_message": run.error_message,
        }},
    )


def deliver_finished_run(run_pk: int, *, now=None) -> int:
    """Store and send one attempt per watcher; a second call for the same outcome stores nothing new."""
    run = WorkflowExecution.objects.select_related("project").filter(pk=run_pk).first()
    if run is None or run.status == RunStatus.RUNNING:
        return 0
    stored = []
    for user_id in watchers(run):
        delivery_id = new_delivery_id()
        notice = notice_for_run(run, delivery_id=delivery_id, recipient_id=user_id)
        row = sending.store(run.project, Source.RUN, f"{run.pk}:{run.status}", recipient_id=user_id,
                            delivery_id=delivery_id, **rendering.stored_fields(notice))
        if row is not None:
            stored.append(row.pk)
    engine.send_now(stored, now=now)
    return len(stored)


@task
def deliver_run(run_pk: int) -> int:
    return deliver_finished_run(run_pk)
