"""One slow server never stalls monitoring: each health check's result is written as soon as it is known, a periodic
pass waits for no check, the next pass runs what came due meanwhile, an overrunning pass is reported, and a
stopping process hands back the checks it still runs. Against real loopback servers (tests.receivers).

Times are measured where the promise is about time (a result written before a slow neighbour's deadline), with
the bounds of the deadlines themselves: correctness bounds, not speed claims.
"""

import logging
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.checks import CheckRunner
from monitoring.daemon import Monitor
from monitoring.models import CheckStatus, HealthCheck, SystemHealthCheck
from tests.receivers import Receiver, Trickler

# Added to a deadline for the process's own work (threads starting, SQLite's write lock) on a loaded machine.
SLACK = 1.0


@pytest.fixture
def healthy_server():
    with Receiver() as server:  # answers 200 at once
        yield server.url.removesuffix("/hook")


@pytest.fixture
def trickler():
    with Trickler("headers", for_seconds=15) as server:
        yield server


def add_check(check_id, url, **extra):
    return HealthCheck.objects.create(check_id=check_id, check_name=check_id.title(), url=url, due_at=timezone.now(),
                                      **extra)


def result(check_id):
    return SystemHealthCheck.objects.results().filter(check_id=check_id).first()


def wait_until(condition, timeout, what):
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {timeout} s waiting for {what}")


def test_each_result_is_written_as_soon_as_it_is_known_not_after_the_slowest(db, trickler, healthy_server):
    add_check("slow", trickler.url("/health"), timeout_ms=1500)
    add_check("fast", f"{healthy_server}/health")
    started = timezone.now()
    monitor = Monitor(workers=4, daily_reports=False)
    assert monitor.run_due_checks() == 2  # a pass that waits for its checks (cron, --once)
    monitor.close()
    took = (timezone.now() - started).total_seconds()
    fast, slow = result("fast"), result("slow")
    assert fast.status == CheckStatus.HEALTHY
    assert fast.checked_at < slow.checked_at - timedelta(seconds=1)  # written while the slow one was still waiting
    assert slow.status == CheckStatus.UNHEALTHY and slow.actual_status is None
    assert slow.error_message == "timed out after 1500 ms while waiting for the response headers"
    assert 1.4 <= (slow.checked_at - started).total_seconds() < 1.5 + SLACK
    assert took < 1.5 + SLACK
    assert not HealthCheck.objects.filter(claimed_by__isnull=False).exists()


def test_a_slow_check_holds_one_thread_and_the_others_go_through_the_rest(db, trickler, healthy_server):
    add_check("slow", trickler.url("/health"), timeout_ms=1500)
    for n in range(6):
        add_check(f"fast-{n}", f"{healthy_server}/health")
    monitor = Monitor(workers=2, daily_reports=False)  # two threads: the slow check keeps one of them
    assert monitor.run_due_checks() == 7
    monitor.close()
    for n in range(6):
        assert result(f"fast-{n}").checked_at < result("slow").checked_at - timedelta(seconds=0.5)  # not behind it
    assert result("slow").error_message.startswith("timed out after 1500 ms")


@pytest.mark.django_db(transaction=True)
def test_a_periodic_pass_waits_for_no_check_and_the_next_pass_runs_what_came_due(trickler, healthy_server):
    slow = add_check("slow", trickler.url("/health"), timeout_ms=4000)
    fast = add_check("fast", f"{healthy_server}/health")
    runner = CheckRunner(4, record_in_threads=True)  # what each worker process keeps (monitoring.checks.shared_runner)

    def periodic_pass():
        monitor = Monitor(workers=4, daily_reports=False, checks=runner, wait_for_checks=False, interval=1.0)
        began = time.monotonic()
        done = monitor.tick()
        monitor.close()
        return done, time.monotonic() - began

    done, took = periodic_pass()
    assert done["checks"] == 2 and took < 1.25  # the pass started both and went on, well before the slow deadline
    wait_until(lambda: result("fast"), 1.25, "the healthy check's result")
    assert result("slow") is None and HealthCheck.objects.get(pk=slow.pk).claimed_by is not None

    HealthCheck.objects.filter(pk=fast.pk).update(due_at=timezone.now())  # due again while the slow one runs
    done, took = periodic_pass()
    assert done["checks"] == 1 and took < 1.25  # the healthy one again; the slow one is still claimed
    wait_until(lambda: SystemHealthCheck.objects.filter(check_id="fast").count() == 2, 1.25, "the second result")
    assert runner.wait(timeout=4.0 + SLACK)
    stored = result("slow")
    assert stored.error_message == "timed out after 4000 ms while waiting for the response headers"
    assert SystemHealthCheck.objects.filter(check_id="slow").count() == 1
    assert not HealthCheck.objects.filter(claimed_by__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_stopping_process_hands_back_the_checks_it_still_runs(trickler):
    check = add_check("slow", trickler.url("/health"), timeout_ms=600)
    runner = CheckRunner(2, record_in_threads=True)
    Monitor(workers=2, daily_reports=False, checks=runner, wait_for_checks=False).run_due_checks()
    assert HealthCheck.objects.get(pk=check.pk).claimed_by is not None
    assert runner.release_unfinished() == 1
    handed_back = HealthCheck.objects.get(pk=check.pk)
    assert handed_back.claimed_by is None and handed_back.due_at <= timezone.now()  # due: another process runs it
    time.sleep(0.6 + SLACK)  # the abandoned request has ended by now; its late result is not written
    assert result("slow") is None


def test_a_pass_longer_than_its_interval_is_reported(db, trickler, caplog):
    add_check("slow", trickler.url("/health"), timeout_ms=1500)  # longer than any other step on a loaded machine
    monitor = Monitor(workers=1, daily_reports=False, interval=0.2)  # inline: the check holds the pass
    with caplog.at_level(logging.WARNING, logger="monitoring.daemon"):
        monitor.tick()
    monitor.close()
    [warning] = [r.getMessage() for r in caplog.records if r.name == "monitoring.daemon"]
    assert re.fullmatch(r"monitoring pass took \d+\.\d s, longer than its 0\.2 s interval \(slowest step: checks, 1\.\d s\); "
                        r"the next pass runs the checks that came due meanwhile", warning), warning


def test_a_pass_within_its_interval_reports_nothing(db, caplog):
    with caplog.at_level(logging.WARNING, logger="monitoring.daemon"):
        Monitor(workers=1, daily_reports=False, interval=30).tick()
    assert not [r for r in caplog.records if r.name == "monitoring.daemon"]


def test_a_claim_left_by_a_killed_process_is_taken_back_after_two_minutes(db, healthy_server):
    check = add_check("orphan", f"{healthy_server}/health")
    HealthCheck.objects.filter(pk=check.pk).update(claimed_by="gone", claimed_at=timezone.now() - timedelta(minutes=3))
    Monitor(workers=1, daily_reports=False).run_due_checks()
    assert result("orphan").status == CheckStatus.HEALTHY


def test_each_delivery_is_written_as_soon_as_it_is_known(db, settings, trickler, healthy_server, monkeypatch):
    from monitoring import notify
    from monitoring.models import DeliveryStatus, NotificationLog, NotificationType

    settings.MONITORING_NOTIFICATIONS = [{"channel": "webhook", "target": trickler.url("/hook")},
                                         {"channel": "webhook", "target": f"{healthy_server}/hook"}]
    # Deliveries have a 10 s deadline (DELIVERY_TIMEOUT_SECONDS); 1 s keeps this test short and proves the same.
    settings.DELIVERY_TIMEOUT_SECONDS = 1.0
    notify.enqueue(NotificationType.WORKFLOW_FAILED, subject="Workflow failed: nightly", message="m", dedupe_key="d-1")
    started = timezone.now()
    monitor = Monitor(workers=4, daily_reports=False)
    monitor.deliver_notifications()
    monitor.close()
    first = {row.target: row for row in NotificationLog.objects.filter(attempt=1)}
    fast, slow = first[f"{healthy_server}/hook"], first[trickler.url("/hook")]
    assert fast.state == DeliveryStatus.SUCCEEDED
    assert fast.sent_at < started + timedelta(seconds=1.0) <= slow.sent_at  # written before the slow one's deadline
    assert slow.state == DeliveryStatus.FAILED and "timed out after 1 s" in slow.error
    assert (slow.sent_at - started).total_seconds() >= 0.9
