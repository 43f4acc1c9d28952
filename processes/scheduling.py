"""The one scheduler: which periodic jobs exist, how often, and enqueueing each due run exactly once.

`manage.py scheduler` calls `enqueue_due_jobs` every second; workers (`manage.py worker`) run what it enqueues.
Any number of schedulers may run: each due PeriodicJob row is claimed with lib.claims (the conditional
UPDATE repeats `next_run_at <= now`, so only one scheduler moves it on) before its task is enqueued.
A run whose previous run is still queued is skipped, so a slow worker pool never piles up copies. A run whose
previous run is still running has overrun its interval: that is logged and counted (`overrun_count`); a job whose
runs may overlap (the monitoring pass: all its work is claimed) is enqueued beside it, so the checks that came due
meanwhile still run; any other job is skipped.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
from django.utils import timezone

from lib import claims

from . import jobs
from .models import PeriodicJob

log = logging.getLogger("processes.scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    task: Any  # a django.tasks Task (enqueue, get_result)
    every: timedelta
    kwargs: dict = field(default_factory=dict)
    overlap: bool = False  # a run may start while the previous one still runs (its work is claimed row by row)


def registered_jobs() -> list[Job]:
    return [
        Job("monitor", jobs.monitor_pass, timedelta(seconds=settings.MONITOR_INTERVAL_SECONDS), overlap=True),
        Job("daily-report", jobs.daily_report, timedelta(minutes=5)),
        Job("chunk-rollup", jobs.rollup_chunk_performance, timedelta(minutes=5)),
        Job("content-gaps", jobs.content_gaps, timedelta(minutes=10), {"days": 30}),
        Job("prune-idempotency-keys", jobs.prune_idempotency_keys, timedelta(hours=1), {"hours": 24}),
        Job("activity-partitions", jobs.create_partitions, timedelta(hours=6)),
        Job("prune-activity", jobs.prune_activity, timedelta(days=1)),
        Job("verify-audit", jobs.verify_audit, timedelta(days=1)),
        *([Job("stream-audit", jobs.stream_audit, timedelta(minutes=1))] if settings.AUDIT_STREAM_DIR else []),
        Job("stream-audit-webhooks", jobs.stream_audit_webhooks, timedelta(minutes=1)),
        Job("recover-abandoned-tasks", jobs.recover_abandoned_tasks, timedelta(minutes=1)),
        # Each run sends the digests of the window that just ended; a rerun within the window sends nothing new.
        Job("hourly-digests", jobs.notification_digests, timedelta(minutes=10), {"mode": "hourly"}),
        Job("daily-digests", jobs.notification_digests, timedelta(hours=1), {"mode": "daily"}),
    ]


def next_pruning(sender=None, **kwargs) -> dict:
    """When the scheduler next runs retention pruning (answers projects.signals.retention_preview)."""
    row = PeriodicJob.objects.filter(name="prune-activity").values_list("next_run_at", flat=True).first()
    return {"next_pruning_at": row} if row else {}


def sync_jobs(now=None) -> None:
    """Give every registered job a row (first run: now); rows of jobs no longer registered stay, unused."""
    now = now or timezone.now()
    for job in registered_jobs():
        PeriodicJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})


def _previous_run(job: Job, task_id: str):
    """The previous run's result while it is still queued or running, else None."""
    if not task_id:
        return None
    try:
        result = job.task.get_result(task_id)
    except (TaskResultDoesNotExist, TaskResultMismatch, ValueError):
        return None
    return result if result.status in (TaskResultStatus.READY, TaskResultStatus.RUNNING) else None


def enqueue_due_jobs(now=None) -> list[str]:
    """Enqueue every job due at `now` whose run this call wins; returns the names enqueued."""
    now = now or timezone.now()
    enqueued = []
    for job in registered_jobs():
        won = claims.claim(
            PeriodicJob.objects.due(now).filter(name=job.name), 1, next_run_at=now + job.every, claimed_at=now
        )
        if not won:
            continue
        row = PeriodicJob.objects.get(pk=won[0])
        previous = _previous_run(job, row.last_task_id)
        if previous is not None and previous.status == TaskResultStatus.RUNNING:
            PeriodicJob.objects.filter(pk=row.pk).update(overrun_count=F("overrun_count") + 1)
            since = f" for {(now - previous.started_at).total_seconds():.0f} s" if previous.started_at else ""
            log.warning("%s: the previous run (task %s) has been running%s, longer than its %s interval; %s",
                        job.name, row.last_task_id, since, _seconds(job.every),
                        "the next run is enqueued beside it" if job.overlap else "this run is skipped")
            if not job.overlap:
                PeriodicJob.objects.filter(pk=row.pk).update(skipped_count=F("skipped_count") + 1)
                continue
        elif previous is not None:
            PeriodicJob.objects.filter(pk=row.pk).update(skipped_count=F("skipped_count") + 1)
            log.warning("%s: the previous run (task %s) is still waiting for a worker; this run is skipped",
                        job.name, row.last_task_id)
            continue
        result = job.task.enqueue(**job.kwargs)
        PeriodicJob.objects.filter(pk=row.pk).update(
            last_task_id=str(result.id), last_enqueued_at=now, enqueued_count=F("enqueued_count") + 1
        )
        enqueued.append(job.name)
    return enqueued


def _seconds(every: timedelta) -> str:
    return f"{every.total_seconds():g} s"
