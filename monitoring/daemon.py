"""The monitoring daemon's work, one pass at a time (`manage.py monitor` loops over `Monitor.tick`; the scheduler
enqueues a pass as a task every MONITOR_INTERVAL_SECONDS).

Every step claims its rows before acting (see lib/claims.py), so any number of daemons can run side by side:
a check runs once, an alert is raised once, a notification attempt is sent once.
Network I/O (health checks, webhooks, email) runs on threads, each request within its own deadline. Health checks
run on a CheckRunner (monitoring/checks.py): each check on a thread of its own, its result written as soon as it
is known, so one slow server delays no other check. A pass that waits for its checks (`--once`, cron, tests)
records them itself as they come in; a periodic pass only starts the checks that are due and goes on, leaving
each to record itself, so a check slower than the interval never holds the pass, and the next pass starts the
checks that came due meanwhile (a running check stays claimed, so no two passes run the same one).
"""

import logging
import time
from concurrent.futures import as_completed
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from lib import claims
from lib.threads import DaemonThreadPool
from outbound import engine

from . import alerts
from .anomalies import detect as detect_anomalies
from .checks import CheckRunner
from .live import announce
from .models import (
    CheckAlert,
    CheckStatus,
    HealthCheck,
    RunAlert,
    RunStatus,
    ScheduleAlert,
    SystemHealthCheck,
    WorkflowExecution,
    WorkflowSchedule,
)
from .notify import enqueue
from .reports import build_daily_report_if_due

log = logging.getLogger("monitoring.daemon")

# A claim older than this belongs to a process that stopped mid-work (killed: a clean stop hands its claims back);
# the row is taken back. Every check ends within its timeout (at most 60 s, a whole-request deadline) and is then
# written at once, so a live claim never gets this old.
STALE_CHECK_CLAIM = timedelta(minutes=2)


class Monitor:
    def __init__(self, *, workers=16, batch=200, retry_base=None, daily_reports=True, clock=timezone.now,
                 checks: CheckRunner | None = None, wait_for_checks=True, interval: float | None = None):
        self.workers = max(1, workers)
        self.batch = batch
        self.retry_base = retry_base
        self.daily_reports = daily_reports
        self.clock = clock
        self.interval = interval  # how often passes come: a pass that takes longer is reported
        self.wait_for_checks = wait_for_checks
        self.checks = checks or CheckRunner(self.workers if self.workers > 1 else 0)
        self._pool = DaemonThreadPool(self.workers, "monitor") if self.workers > 1 else None

    def close(self):
        # Never waits: every request ends at its own deadline, and a stopping process must not wait for one.
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _as_completed(self, fn, items):
        """(item, fn(item)) pairs in the order they finish, so each outcome can be written as soon as it is known."""
        if self._pool is None:
            for item in items:
                yield item, fn(item)
            return
        futures = {self._pool.submit(fn, item): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def tick(self):
        """One pass over everything due now; returns what it did, for logs and tests."""
        started = time.monotonic()
        timings: dict[str, float] = {}
        done: dict[str, int] = {}

        def step(name, work):
            began = time.monotonic()
            done[name] = work()
            timings[name] = time.monotonic() - began

        step("checks", self.run_due_checks)
        step("failures_and_recoveries", self.evaluate_finished_runs)
        step("missed_schedules", self.detect_missed_schedules)
        step("schedule_recoveries", self.announce_schedule_recoveries)
        step("anomalies", self.detect_anomalies)
        done["daily_report"] = 0
        if self.daily_reports and build_daily_report_if_due(self.clock()) is not None:
            done["daily_report"] = 1
        step("notifications", self.deliver_notifications)
        self._report_overrun(time.monotonic() - started, timings)
        return done

    def _report_overrun(self, seconds, timings):
        if self.interval is None or seconds <= self.interval:
            return
        slowest = max(timings, key=timings.__getitem__)
        log.warning(
            "monitoring pass took %.1f s, longer than its %g s interval (slowest step: %s, %.1f s); "
            "the next pass runs the checks that came due meanwhile", seconds, self.interval, slowest, timings[slowest],
        )

    # --- health checks -------------------------------------------------------------------------------------

    def run_due_checks(self):
        """Start the due checks, as many at a time as the runner has threads; each result is written as soon as
        it is known. With wait_for_checks, go on (recording results and starting the checks they make room for)
        until no check is due or running; otherwise return once the free threads have work. Returns how many
        checks this pass started."""
        started = 0
        while True:
            self.checks.collect(timeout=0)
            now = self.clock()
            HealthCheck.objects.stale_claims(now - STALE_CHECK_CLAIM).update(claimed_by=None, claimed_at=None)
            free = self.checks.free(self.batch)
            ids = claims.claim(HealthCheck.objects.due(now).order_by("due_at"), free, claimed_at=now) if free else []
            for check in HealthCheck.objects.filter(pk__in=ids).order_by("due_at"):
                self.checks.start(check, self._record_check)
                started += 1
            if not self.wait_for_checks:
                return started
            if not ids and not self.checks.running():
                return started
            self.checks.collect(timeout=None)  # until one finishes: its thread is then free for the next

    def _record_check(self, check, result):
        now = self.clock()
        alert = check.alert_state
        with transaction.atomic():
            if not result.healthy and alert == CheckAlert.OK:
                alert = CheckAlert.FAILING
            elif result.healthy and alert == CheckAlert.FAILING:
                alert = CheckAlert.OK
            # Releasing our claim and moving due_at is the proof the claim was still ours.
            updated = HealthCheck.objects.filter(pk=check.pk, claimed_by=check.claimed_by).update(
                claimed_by=None, claimed_at=None, alert_state=alert,
                due_at=now + timedelta(seconds=check.interval_seconds),
            )
            if not updated:
                return  # our claim went stale and another daemon took the check over
            stored = SystemHealthCheck.objects.create(
                health_check=check,
                check_id=check.check_id,
                check_name=check.check_name,
                status=CheckStatus.HEALTHY if result.healthy else CheckStatus.UNHEALTHY,
                checked_at=now,
                response_time_ms=result.response_time_ms,
                expected_status=check.expected_status,
                actual_status=result.actual_status,
                error_message=result.error,
            )
            announce("check")
            if alert != check.alert_state and alert == CheckAlert.FAILING:
                enqueue(notice=alerts.check_down(check, result, now), dedupe_key=f"check:{check.check_id}:down:{stored.pk}")
            elif alert != check.alert_state:
                enqueue(notice=alerts.check_recovered(check, result, now),
                        dedupe_key=f"check:{check.check_id}:up:{stored.pk}")

    # --- runs and schedules --------------------------------------------------------------------------------

    def evaluate_finished_runs(self):
        """A failed run after a success (or first ever) alerts; later failures stay quiet; a success after a
        failure announces the recovery. Decided from the stored run history, so any daemon decides the same."""
        raised = 0
        pending = list(WorkflowExecution.objects.awaiting_alert_evaluation().order_by("completed_at")[: self.batch * 5])
        for execution in pending:
            previous = (
                WorkflowExecution.objects.filter(
                    project_id=execution.project_id,
                    workflow_name=execution.workflow_name,
                    environment=execution.environment,
                    status__in=[RunStatus.SUCCESS, RunStatus.FAILED],
                    started_at__lt=execution.started_at,
                )
                .order_by("-started_at")
                .values_list("status", flat=True)
                .first()
            )
            if execution.status == RunStatus.FAILED and previous != RunStatus.FAILED:
                decision = RunAlert.FAILURE
            elif execution.status == RunStatus.SUCCESS and previous == RunStatus.FAILED:
                decision = RunAlert.RECOVERY
            else:
                decision = RunAlert.NONE
            with transaction.atomic():
                won = WorkflowExecution.objects.filter(pk=execution.pk, alert_state=RunAlert.PENDING).update(
                    alert_state=decision
                )
                if not won or decision == RunAlert.NONE:
                    continue
                raised += 1
                if decision == RunAlert.FAILURE:
                    enqueue(notice=alerts.run_failed(execution), dedupe_key=f"run:{execution.pk}:failed",
                            execution=execution)
                else:
                    enqueue(notice=alerts.run_recovered(execution), dedupe_key=f"run:{execution.pk}:recovered",
                            execution=execution)
        return raised

    def detect_missed_schedules(self):
        """A schedule whose expected run did not start within its grace period is late: one alert per outage.

        The alert names the missed time on the schedule's clock and in UTC. Its `next_run_at` then moves on to the
        next expected run after now (and keeps moving while it stays late), so "next expected" is never in the
        past; the missed slot stays in the alert's text and dedupe key."""
        now = self.clock()
        raised = 0
        for schedule in WorkflowSchedule.objects.overdue(now):
            if not schedule.is_missed(now):
                continue
            missed_at = schedule.next_run_at
            following = schedule.compute_next_run(now)
            with transaction.atomic():
                won = WorkflowSchedule.objects.filter(
                    pk=schedule.pk, alert_state=ScheduleAlert.OK, next_run_at=missed_at
                ).update(alert_state=ScheduleAlert.LATE, next_run_at=following, updated_at=now)
                if not won:
                    continue  # a run arrived (or another daemon decided) in between
                raised += 1
                enqueue(notice=alerts.schedule_missed(schedule, missed_at, following),
                        dedupe_key=f"schedule:{schedule.schedule_id}:missed:{missed_at.isoformat()}")
        # Still late and the next expected time has passed too: move it on quietly (the outage was announced).
        for schedule in WorkflowSchedule.objects.still_late(now):
            if schedule.is_missed(now):
                WorkflowSchedule.objects.filter(
                    pk=schedule.pk, alert_state=ScheduleAlert.LATE, next_run_at=schedule.next_run_at
                ).update(next_run_at=schedule.compute_next_run(now), updated_at=now)
        return raised

    def announce_schedule_recoveries(self):
        """A late schedule whose run arrived is back on time: one message per outage, naming the next expected run.

        If that next run is itself already missed when the daemon gets to it (the daemon was stopped, or the run
        was reported with an old start time), the schedule is not back on time: it stays late, with no second
        alert and no recovery message, and its next expected run moves past now."""
        now = self.clock()
        announced = 0
        for schedule in WorkflowSchedule.objects.recovered():
            with transaction.atomic():
                if schedule.is_missed(now):
                    WorkflowSchedule.objects.filter(
                        pk=schedule.pk, alert_state=ScheduleAlert.RECOVERED, next_run_at=schedule.next_run_at
                    ).update(alert_state=ScheduleAlert.LATE, next_run_at=schedule.compute_next_run(now),
                             updated_at=now)
                    continue
                if not WorkflowSchedule.objects.filter(
                    pk=schedule.pk, alert_state=ScheduleAlert.RECOVERED, next_run_at=schedule.next_run_at
                ).update(alert_state=ScheduleAlert.OK, updated_at=now):
                    continue
                announced += 1
                enqueue(notice=alerts.schedule_recovered(schedule, now),
                        dedupe_key=f"schedule:{schedule.schedule_id}:recovered:{schedule.last_run_at.isoformat()}")
        return announced

    def detect_anomalies(self):
        """Unusual durations, failure-rate spikes and run volume opened or cleared this pass (monitoring/anomalies.py)."""
        done = detect_anomalies(self.clock())
        return done["opened"] + done["cleared"]

    # --- notifications -------------------------------------------------------------------------------------

    def deliver_notifications(self):
        """Send every due attempt of the one delivery log (alerts and project notifications); a failed one queues
        the next after the backoff. Loops while work is due, so with a zero backoff one pass makes all retries."""
        return engine.send_due(clock=self.clock, batch=self.batch, run=self._as_completed, base=self.retry_base)

