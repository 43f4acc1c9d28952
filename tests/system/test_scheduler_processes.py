"""Two real scheduler processes side by side never enqueue the same run twice; both stop cleanly on SIGTERM."""

from processes.scheduling import registered_jobs

from .processes import wait_for


def test_two_schedulers_running_at_once_enqueue_each_run_once(system):
    # No worker runs, so after its first run each job waits: a second copy could only come from a lost race.
    first = system.start_manage("scheduler", "--tick", "0.1", name="scheduler-a", MONITOR_INTERVAL_SECONDS="0.5")
    second = system.start_manage("scheduler", "--tick", "0.1", name="scheduler-b", MONITOR_INTERVAL_SECONDS="0.5")
    wait_for(lambda: system.sql("SELECT coalesce(sum(skipped_count), 0) FROM activityhub_periodicjob "
                                "WHERE name = 'monitor'")[0][0] >= 6,
             what="several monitor runs to come due while the first is queued")
    assert system.stop(first) == 0
    assert system.stop(second) == 0
    per_task = dict(system.sql("SELECT task_path, count(*) FROM django_tasks_database_dbtaskresult GROUP BY task_path"))
    jobs = registered_jobs()
    assert per_task.pop("processes.jobs.notification_digests") == 2  # the hourly and the daily job, once each
    assert len(per_task) == len(jobs) - 2
    assert set(per_task.values()) == {1}
    assert system.sql("SELECT sum(enqueued_count) FROM activityhub_periodicjob") == [(len(jobs),)]
    assert "scheduler stopped" in system.log(first) and "scheduler stopped" in system.log(second)
