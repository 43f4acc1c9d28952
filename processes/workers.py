"""Worker processes: the heartbeat every worker and scheduler keeps, and the database task worker's clean stop.

A process beats every HEARTBEAT_SECONDS and deletes its row when it stops cleanly; /healthz?deep=1 reads the rows
(see `process_health`). A worker's row also names the task it is running, with that task's deadline: a task still
running past it makes the worker "stuck" (a monitoring pass: MONITOR_PASS_DEADLINE_FACTOR × its interval; a task
that declares no deadline: TASK_DEADLINE_SECONDS). The database worker is django-tasks-db's, with one change: stopped mid-task (SIGTERM
after --shutdown-timeout, or a second SIGTERM) the task is interrupted, its transaction rolls back, and it goes
back to the queue instead of ending FAILED half-done. A worker killed outright leaves its task RUNNING;
`recover_abandoned_tasks` (a periodic job) puts it back once the worker's heartbeat has stopped.
"""

import logging
import os
import signal
import socket
import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.crypto import get_random_string

from .models import ProcessHeartbeat, Role

log = logging.getLogger("processes.workers")

# Worker ids of our workers start with this; tasks claimed by other workers (a plain db_worker) are never touched.
WORKER_ID_PREFIX = "ah-"
# A task put back this many times (its workers kept dying) ends FAILED instead of looping.
MAX_RECOVERIES = 5
FORGET_DEAD_AFTER = timedelta(days=1)


def new_process_id(role):
    return f"{WORKER_ID_PREFIX}{role[0]}-{socket.gethostname()[:20]}-{os.getpid()}-{get_random_string(8)}"


class Heartbeat:
    """The liveness row of this process. `threaded`: a thread beats (a worker, whose main thread runs tasks);
    otherwise the caller's loop calls beat() (the scheduler: a beat then proves the loop itself goes round)."""

    def __init__(self, role, *, threaded, process_id=None, interval=None):
        self.role = role
        self.process_id = process_id or new_process_id(role)
        self.interval = interval or settings.HEARTBEAT_SECONDS
        self.threaded = threaded
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        ProcessHeartbeat.objects.update_or_create(
            process_id=self.process_id,
            defaults={"role": self.role, "hostname": socket.gethostname()[:255], "pid": os.getpid(),
                      "started_at": timezone.now(), "beat_at": timezone.now()},
        )
        if self.role == Role.WORKER:
            task_started.connect(self._task_started, dispatch_uid=f"heartbeat-start-{self.process_id}")
            task_finished.connect(self._task_finished, dispatch_uid=f"heartbeat-finish-{self.process_id}")
        if self.threaded:
            self._thread = threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True)
            self._thread.start()
        log.info("%s %s started", self.role, self.process_id)
        return self

    def beat(self, **fields):
        try:
            if not ProcessHeartbeat.objects.filter(process_id=self.process_id).update(beat_at=timezone.now(), **fields):
                self.start_row_again()
        except DatabaseError:
            log.exception("heartbeat of %s not recorded; trying again in %s s", self.process_id, self.interval)
            close_old_connections()

    def start_row_again(self):
        # Pruned while we were unreachable for a day, or deleted by hand: register again.
        ProcessHeartbeat.objects.get_or_create(
            process_id=self.process_id,
            defaults={"role": self.role, "hostname": socket.gethostname()[:255], "pid": os.getpid()},
        )

    def _beat_forever(self):
        try:
            while not self._stop.wait(self.interval):
                self.beat()
        finally:
            connection.close()  # this thread's own connection

    def _task_started(self, sender, task_result, **kwargs):
        now = timezone.now()
        self.beat(task_name=task_result.task.module_path[:255], task_id=str(task_result.id)[:64], task_started_at=now,
                  task_deadline_at=now + timedelta(seconds=task_deadline_seconds(task_result.task)))

    def _task_finished(self, sender, task_result, **kwargs):
        from django.db.models import F

        self.beat(task_name="", task_id="", task_started_at=None, task_deadline_at=None,
                  tasks_done=F("tasks_done") + 1)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.interval + 5)
        task_started.disconnect(dispatch_uid=f"heartbeat-start-{self.process_id}")
        task_finished.disconnect(dispatch_uid=f"heartbeat-finish-{self.process_id}")
        try:
            ProcessHeartbeat.objects.filter(process_id=self.process_id).delete()
        except DatabaseError:
            log.exception("could not remove the heartbeat of %s", self.process_id)
        log.info("%s %s stopped", self.role, self.process_id)


def default_task_deadline() -> float:
    """The deadline of a task that declares none: TASK_DEADLINE_SECONDS (WORKER_STUCK_SECONDS, its former name,
    wins when a settings module still sets it)."""
    return float(getattr(settings, "WORKER_STUCK_SECONDS", None) or settings.TASK_DEADLINE_SECONDS)


def task_deadline_seconds(task) -> float:
    """How long a run of this django.tasks Task may take before its worker counts as stuck (see retried_task)."""
    deadline = getattr(task.func, "deadline", None)
    if callable(deadline):
        deadline = deadline()
    return float(deadline) if deadline else default_task_deadline()


def _task_report(row, now):
    """What the row's process is running, for people: the task, how long, its deadline, and whether it is past it."""
    if row.task_started_at is None:
        return {"task": None, "task_id": None, "task_seconds": None, "task_deadline_seconds": None, "overdue": False}
    deadline_at = row.task_deadline_at or row.task_started_at + timedelta(seconds=default_task_deadline())
    running = (now - row.task_started_at).total_seconds()
    allowed = (deadline_at - row.task_started_at).total_seconds()
    report = {"task": row.task_name or None, "task_id": row.task_id or None, "task_seconds": round(running, 1),
              "task_deadline_seconds": round(allowed, 1), "overdue": now > deadline_at}
    if report["overdue"]:
        report["problem"] = (f"{row.role} {row.process_id} on {row.hostname} (pid {row.pid}) has been running "
                             f"{row.task_name or 'a task'}" + (f" (task {row.task_id})" if row.task_id else "")
                             + f" for {running:.0f} s, past its {allowed:g} s deadline.")
    return report


def process_health(now=None):
    """Per role: live processes, dead ones (stopped beating without a clean stop) and stuck ones (still beating, but
    running one task past that task's deadline; a stuck process's "problem" says which task, in a sentence). A role
    is "down" when it has processes but none of them is alive and unstuck."""
    now = now or timezone.now()
    dead_after = timedelta(seconds=settings.HEARTBEAT_SECONDS * 3)
    roles: dict[str, dict[str, Any]] = {}
    for row in ProcessHeartbeat.objects.filter(beat_at__gte=now - FORGET_DEAD_AFTER):
        alive = now - row.beat_at <= dead_after
        task = _task_report(row, now)
        stuck = alive and task.pop("overdue")
        problem = task.pop("problem", None)
        entry = roles.setdefault(row.role, {"alive": 0, "dead": 0, "stuck": 0, "processes": []})
        entry["alive" if alive and not stuck else "stuck" if stuck else "dead"] += 1
        entry["processes"].append({
            "id": row.process_id, "host": row.hostname, "pid": row.pid,
            "seconds_since_beat": round((now - row.beat_at).total_seconds(), 1),
            "alive": alive, "stuck": stuck, **task, "tasks_done": row.tasks_done,
            "problem": problem if stuck else None,
        })
    for entry in roles.values():
        entry["status"] = "ok" if entry["alive"] else "down"
    return roles


def recover_abandoned_tasks(now=None):
    """Database backend: RUNNING tasks of our workers whose heartbeat stopped go back to READY."""
    from django.tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    now = now or timezone.now()
    ProcessHeartbeat.objects.filter(beat_at__lt=now - FORGET_DEAD_AFTER).delete()
    if not isinstance(task_backends["default"], DatabaseBackend):
        return {"requeued": 0, "failed": 0}  # Redis reclaims its own pending tasks (REDIS_CLAIM_TIMEOUT)
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    alive = set(ProcessHeartbeat.objects.alive(now).values_list("process_id", flat=True))
    grace = now - timedelta(seconds=settings.HEARTBEAT_SECONDS * 3)
    requeued = failed = 0
    for result in DBTaskResult.objects.running().filter(started_at__lt=grace):
        worker = result.worker_ids[-1] if result.worker_ids else ""
        if not worker.startswith(WORKER_ID_PREFIX) or worker in alive:
            continue
        same = DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING, started_at=result.started_at)
        if len(result.worker_ids) >= MAX_RECOVERIES:
            failed += same.update(
                status=TaskResultStatus.FAILED, finished_at=now,
                exception_class_path="processes.workers.TaskAbandoned",
                traceback=f"Started {len(result.worker_ids)} times; every worker stopped before it finished.",
            )
        else:
            requeued += same.update(status=TaskResultStatus.READY, started_at=None)
            log.warning("task %s (%s) of dead worker %s put back in the queue", result.pk, result.task_path, worker)
    return {"requeued": requeued, "failed": failed}


class TaskInterrupted(BaseException):
    """Raised inside a running task when its worker must stop now; BaseException so task code does not catch it."""


def database_worker_class():
    """Imported late: django-tasks-db's command module needs the app registry."""
    from django.tasks import TaskResultStatus
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    class StoppableWorker(Worker):
        """django-tasks-db's worker; on SIGTERM it lets the running task finish for up to `shutdown_timeout`
        seconds, then interrupts it and puts it back in the queue (its transaction rolled back)."""

        def __init__(self, *, shutdown_timeout, **kwargs):
            super().__init__(**kwargs)
            self.shutdown_timeout = shutdown_timeout
            self.stop_requested = False

        def shutdown(self, signum, frame):
            self.stop_requested = True
            if not self.running_task:
                log.info("worker %s: %s, stopping", self.worker_id, signal.strsignal(signum))
                raise SystemExit(0)
            if not self.running or self.shutdown_timeout <= 0:
                raise TaskInterrupted(signal.strsignal(signum))
            self.running = False
            log.warning("worker %s: %s; the running task has %s s to finish, then goes back to the queue",
                        self.worker_id, signal.strsignal(signum), self.shutdown_timeout)
            signal.signal(signal.SIGALRM, self._out_of_time)
            signal.setitimer(signal.ITIMER_REAL, self.shutdown_timeout)

        def _out_of_time(self, signum, frame):
            if self.running_task:
                raise TaskInterrupted("shutdown timeout")

        def run_task(self, db_task_result):
            # django-tasks-db records any BaseException as FAILED; an interruption is not the task's failure.
            original_set_failed = db_task_result.set_failed

            def set_failed(exc):
                if isinstance(exc, TaskInterrupted):
                    raise exc
                original_set_failed(exc)

            db_task_result.set_failed = set_failed
            try:
                super().run_task(db_task_result)
            except TaskInterrupted:
                signal.setitimer(signal.ITIMER_REAL, 0)
                connections.close_all()  # the interrupted query may have left the connection unusable
                DBTaskResult.objects.filter(pk=db_task_result.pk, status=TaskResultStatus.RUNNING).update(
                    status=TaskResultStatus.READY, started_at=None
                )
                log.warning("worker %s: task %s (%s) interrupted and put back in the queue",
                            self.worker_id, db_task_result.pk, db_task_result.task_path)
                self.running = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

    return StoppableWorker
