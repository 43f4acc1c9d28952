"""The periodic jobs as django.tasks tasks: the scheduler enqueues them, any worker runs them.

Each job also exists as a `--once` management command for cron (`monitor --once`, `rollup_chunk_performance
--once`, `aggregate_content_gaps`, `prune_idempotency_keys`, `send_digests`, `create_partitions`,
`prune_activity --once`, `stream_audit_webhooks --once`); these tasks call the same functions.
A job that raises is enqueued again after a backoff (TASK_RETRY_BASE_SECONDS × 2^(attempt-1)) up to
TASK_MAX_ATTEMPTS attempts; every failed attempt stays FAILED with its traceback in the task admin.
"""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone

import outbound

log = logging.getLogger("processes.jobs")


def retry_delay(attempt: int) -> timedelta:
    """Wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed: the one backoff
    (outbound.retry_delay), without jitter (one job, not a crowd of receivers)."""
    return outbound.retry_delay(attempt, base=settings.TASK_RETRY_BASE_SECONDS, jitter=0)


def retried_task(func=None, *, deadline=None, **task_options):
    """@task, plus: on an exception, enqueue the same call again after the backoff, then fail this attempt.

    `deadline` (seconds, or a function returning them, read when a run starts): a run taking longer is reported
    stuck by /healthz?deep=1 (default TASK_DEADLINE_SECONDS; see processes.workers.task_deadline_seconds)."""

    def decorate(func):
        @functools.wraps(func)
        def run(*args, attempt: int = 1, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception:
                if attempt < settings.TASK_MAX_ATTEMPTS:
                    when = timezone.now() + retry_delay(attempt)
                    retry = the_task.using(run_after=when).enqueue(*args, attempt=attempt + 1, **kwargs)
                    log.warning("%s attempt %s failed; attempt %s at %s (task %s)",
                                the_task.name, attempt, attempt + 1, when.isoformat(timespec="seconds"), retry.id)
                else:
                    log.error("%s failed %s times; giving up (the failed results stay in the task admin)",
                              the_task.name, attempt)
                raise

        run.deadline = deadline  # type: ignore[attr-defined]  # a plain attribute on the function, read by processes.workers.task_deadline_seconds
        the_task = task(**task_options)(run)
        return the_task

    return decorate(func) if func is not None else decorate


def monitor_pass_deadline() -> float:
    """A monitoring pass that runs longer than this is stuck: MONITOR_PASS_DEADLINE_FACTOR × its interval (a pass
    waits for no health check, and every request it makes ends within its own deadline)."""
    return settings.MONITOR_INTERVAL_SECONDS * settings.MONITOR_PASS_DEADLINE_FACTOR


@retried_task(deadline=monitor_pass_deadline)
def monitor_pass() -> dict:
    """One monitoring pass: due health checks started (each writes its result when it has it, on this worker's
    check threads), failures and recoveries, missed schedules, notifications."""
    from monitoring.checks import shared_runner
    from monitoring.daemon import Monitor

    monitor = Monitor(workers=8, daily_reports=False, checks=shared_runner(), wait_for_checks=False,
                      interval=settings.MONITOR_INTERVAL_SECONDS)
    try:
        return monitor.tick()
    finally:
        monitor.close()


@retried_task
def daily_report() -> dict:
    from monitoring.reports import build_daily_report_if_due

    report = build_daily_report_if_due(timezone.now())
    return {"report_id": report.report_id if report else None}


@retried_task
def rollup_chunk_performance() -> dict:
    from events.quality import rollup_chunk_performance as rollup

    return rollup()


@retried_task
def content_gaps(days: int = 30) -> dict:
    from events.quality import refresh_content_gaps
    from projects.models import Project

    return {p.slug: refresh_content_gaps(p, days=days)["feedback_count"] for p in Project.objects.all()}


@retried_task
def prune_idempotency_keys(hours: int = 24) -> dict:
    from projects.idempotency import prune_expired

    return {"deleted": prune_expired(hours)}


@retried_task
def notification_digests(mode: str) -> dict:
    """The hourly or daily notification digests of the window that just ended (each goes out once)."""
    from notifications.digests import send_digests

    return send_digests(mode)


@retried_task
def verify_audit() -> dict:
    """Every audit hash chain verified; a broken one alerts the monitoring channels (once per finding)."""
    from events.audit import verify_all
    from monitoring import alerts
    from monitoring.notify import enqueue
    from projects.models import Project

    names = dict(Project.objects.values_list("pk", "slug"))
    broken = {}
    for chain, _count, problem in verify_all():
        if problem is None:
            continue
        where = f"project {names.get(chain, chain)}" if chain else "site-wide entries"
        broken[where] = problem.sentence
        enqueue(notice=alerts.audit_tampered(chain, where, problem, project_slug=names.get(chain)),
                dedupe_key=f"audit:{chain}:{problem.kind}:{problem.sequence}:{problem.action_id}")
    return {"broken": broken}


@retried_task
def stream_audit() -> dict:
    """New audit entries appended to AUDIT_STREAM_DIR (nothing when it is not set)."""
    from events.streaming import stream_to_disk

    return stream_to_disk(settings.AUDIT_STREAM_DIR) if settings.AUDIT_STREAM_DIR else {}


@retried_task
def stream_audit_webhooks() -> dict:
    """Each project's new audit entries sent to its audit stream's webhook, in order, batch after batch."""
    from notifications.audit_stream import stream_due

    return stream_due()


@retried_task
def create_partitions() -> dict:
    """PostgreSQL: this month's and the next months' partitions of the activity tables exist."""
    from events.partitions import ensure_partitions

    return {"created": ensure_partitions()}


@retried_task
def prune_activity() -> dict:
    """Activity events and audit actions past their project's retention are removed."""
    from events.retention import prune_activity as prune

    return prune().as_dict()


@retried_task
def recover_abandoned_tasks() -> dict:
    """Put back in the queue the database tasks of workers that died mid-task; forget long-dead processes."""
    from .workers import recover_abandoned_tasks as recover

    return recover()
