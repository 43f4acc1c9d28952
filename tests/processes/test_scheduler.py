"""The one scheduler: every periodic job is enqueued on its interval, once, however many schedulers run."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from lib import claims
from processes import scheduling
from processes.models import PeriodicJob, ProcessHeartbeat, Role
from processes.workers import recover_abandoned_tasks

pytestmark = pytest.mark.django_db

EVERY_JOB = {"monitor", "daily-report", "chunk-rollup", "content-gaps", "prune-idempotency-keys", "recover-abandoned-tasks",
             "hourly-digests", "daily-digests", "activity-partitions", "prune-activity", "verify-audit",
             "stream-audit-webhooks"}


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.MONITOR_INTERVAL_SECONDS = 10


def queued(job_path):
    return DBTaskResult.objects.filter(task_path=f"processes.jobs.{job_path}").count()


def finish_all():
    DBTaskResult.objects.update(status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now())


def test_first_pass_enqueues_every_periodic_job_as_a_task():
    now = timezone.now()
    scheduling.sync_jobs(now)
    assert set(scheduling.enqueue_due_jobs(now)) == EVERY_JOB
    assert set(DBTaskResult.objects.values_list("task_path", flat=True)) == {
        f"processes.jobs.{name}" for name in
        ["monitor_pass", "daily_report", "rollup_chunk_performance", "content_gaps", "prune_idempotency_keys",
         "recover_abandoned_tasks", "notification_digests", "create_partitions", "prune_activity", "verify_audit",
         "stream_audit_webhooks"]
    }


def test_a_job_is_enqueued_again_only_after_its_interval():
    now = timezone.now()
    scheduling.sync_jobs(now)
    scheduling.enqueue_due_jobs(now)
    finish_all()
    assert scheduling.enqueue_due_jobs(now + timedelta(seconds=5)) == []
    assert scheduling.enqueue_due_jobs(now + timedelta(seconds=11)) == ["monitor"]
    assert queued("monitor_pass") == 2
    assert queued("rollup_chunk_performance") == 1


def test_a_run_another_scheduler_claimed_meanwhile_is_not_enqueued_twice(monkeypatch):
    now = timezone.now()
    scheduling.sync_jobs(now)
    real_take = claims.take
    rival_ran: list[bool] = []

    def take_after_a_rival(queryset, ids, token, **updates):
        # Between our SELECT and our UPDATE, a second scheduler claims and enqueues everything due.
        if not rival_ran:
            rival_ran.append(True)
            monkeypatch.setattr(claims, "take", real_take)
            assert set(scheduling.enqueue_due_jobs(now)) == EVERY_JOB
            monkeypatch.setattr(claims, "take", take_after_a_rival)
        return real_take(queryset, ids, token, **updates)

    monkeypatch.setattr(claims, "take", take_after_a_rival)
    assert scheduling.enqueue_due_jobs(now) == []
    assert DBTaskResult.objects.count() == len(EVERY_JOB)
    assert sum(PeriodicJob.objects.values_list("enqueued_count", flat=True)) == len(EVERY_JOB)


def test_a_run_is_skipped_while_the_previous_one_is_still_queued():
    now = timezone.now()
    scheduling.sync_jobs(now)
    scheduling.enqueue_due_jobs(now)
    assert "monitor" not in scheduling.enqueue_due_jobs(now + timedelta(seconds=11))  # no worker took the first yet
    assert queued("monitor_pass") == 1
    assert PeriodicJob.objects.get(name="monitor").skipped_count == 1


def _mark_running(path, started_at):
    DBTaskResult.objects.filter(task_path=f"processes.jobs.{path}").update(
        status=TaskResultStatus.RUNNING, started_at=started_at)


def test_a_monitoring_pass_that_overruns_is_reported_and_the_next_one_still_runs_beside_it(caplog):
    now = timezone.now()
    scheduling.sync_jobs(now)
    scheduling.enqueue_due_jobs(now)
    _mark_running("monitor_pass", now - timedelta(seconds=3))  # 11 s on, a worker has been on it 14 s; interval 10
    with caplog.at_level("WARNING", logger="processes.scheduler"):
        assert "monitor" in scheduling.enqueue_due_jobs(now + timedelta(seconds=11))
    assert queued("monitor_pass") == 2  # another worker runs the checks that came due meanwhile
    job = PeriodicJob.objects.get(name="monitor")
    assert (job.overrun_count, job.skipped_count, job.enqueued_count) == (1, 0, 2)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "processes.scheduler"]
    assert warning.startswith("monitor: the previous run (task ")
    assert "has been running for 14 s, longer than its 10 s interval; the next run is enqueued beside it" in warning


def test_a_job_whose_runs_may_not_overlap_is_skipped_while_its_previous_run_still_runs():
    now = timezone.now()
    scheduling.sync_jobs(now)
    scheduling.enqueue_due_jobs(now)
    _mark_running("rollup_chunk_performance", now - timedelta(minutes=1))
    assert "chunk-rollup" not in scheduling.enqueue_due_jobs(now + timedelta(minutes=5, seconds=1))
    assert queued("rollup_chunk_performance") == 1
    job = PeriodicJob.objects.get(name="chunk-rollup")
    assert (job.overrun_count, job.skipped_count) == (1, 1)


def test_scheduler_once_enqueues_what_is_due_and_exits(capsys):
    call_command("scheduler", "--once")
    assert "monitor" in capsys.readouterr().out
    call_command("scheduler", "--once")
    assert "nothing due" in capsys.readouterr().out
    assert queued("monitor_pass") == 1


def _running_task(worker_id, started_ago):
    from processes.jobs import daily_report

    result = daily_report.enqueue()
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - started_ago, worker_ids=[worker_id]
    )
    return result.id


def test_task_of_a_worker_whose_heartbeat_stopped_goes_back_to_the_queue():
    ProcessHeartbeat.objects.create(process_id="ah-w-dead", role=Role.WORKER, hostname="a", pid=1,
                                    beat_at=timezone.now() - timedelta(minutes=5))
    ProcessHeartbeat.objects.create(process_id="ah-w-alive", role=Role.WORKER, hostname="a", pid=2)
    abandoned = _running_task("ah-w-dead", timedelta(minutes=5))
    still_running = _running_task("ah-w-alive", timedelta(minutes=5))
    not_ours = _running_task("a-plain-db-worker-id", timedelta(minutes=5))

    assert recover_abandoned_tasks() == {"requeued": 1, "failed": 0}
    status = {str(pk): value for pk, value in DBTaskResult.objects.values_list("pk", "status")}
    assert status[abandoned] == TaskResultStatus.READY
    assert status[still_running] == TaskResultStatus.RUNNING
    assert status[not_ours] == TaskResultStatus.RUNNING


def test_task_whose_workers_keep_dying_ends_failed_instead_of_looping():
    result = _running_task("ah-w-dead", timedelta(minutes=5))
    DBTaskResult.objects.filter(pk=result).update(worker_ids=[f"ah-w-dead-{n}" for n in range(5)])
    assert recover_abandoned_tasks() == {"requeued": 0, "failed": 1}
    row = DBTaskResult.objects.get(pk=result)
    assert row.status == TaskResultStatus.FAILED
    assert "Started 5 times" in row.traceback
