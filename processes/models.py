"""The process model's own state: when each periodic job is next due, and which worker processes are alive."""

from datetime import timedelta

from django.db import models
from django.utils import timezone


class PeriodicJobQuerySet(models.QuerySet):
    def due(self, now):
        return self.filter(next_run_at__lte=now)


class PeriodicJob(models.Model):
    """One row per job of processes.scheduling.registered_jobs. A scheduler claims a due row (moving next_run_at on) before
    it enqueues the job, so two schedulers never enqueue the same run twice."""

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_task_id = models.CharField(max_length=64, blank=True, default="")
    enqueued_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(
        default=0, help_text="Runs not enqueued because the previous one was still queued (or, for a job whose runs "
        "may not overlap, still running).",
    )
    overrun_count = models.PositiveIntegerField(
        default=0, help_text="Runs that came due while the previous run was still running (it took longer than the interval).",
    )
    claimed_by = models.CharField(max_length=32, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    objects = PeriodicJobQuerySet.as_manager()

    class Meta:
        db_table = "activityhub_periodicjob"  # the table it had while the model lived in activityhub
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    WORKER = "worker", "Task worker"
    SCHEDULER = "scheduler", "Scheduler"


class ProcessHeartbeatQuerySet(models.QuerySet):
    def alive(self, now=None, seconds=None):
        from django.conf import settings

        now = now or timezone.now()
        seconds = seconds if seconds is not None else settings.HEARTBEAT_SECONDS * 3
        return self.filter(beat_at__gte=now - timedelta(seconds=seconds))


class ProcessHeartbeat(models.Model):
    """A running worker or scheduler process. It beats every HEARTBEAT_SECONDS and deletes its row on a clean stop,
    so a row that stopped beating is a process that crashed or hangs."""

    process_id = models.CharField(max_length=64, unique=True, help_text="Also the django-tasks-db worker id.")
    role = models.CharField(max_length=20, choices=Role.choices)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now)
    task_name = models.CharField(max_length=255, blank=True, default="", help_text="The task running now, if any.")
    task_id = models.CharField(max_length=64, blank=True, default="", help_text="The running task's result id.")
    task_started_at = models.DateTimeField(null=True, blank=True)
    task_deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="When the running task passes its deadline (the worker is then stuck).",
    )
    tasks_done = models.PositiveIntegerField(default=0)

    objects = ProcessHeartbeatQuerySet.as_manager()

    class Meta:
        db_table = "activityhub_processheartbeat"  # the table it had while the model lived in activityhub
        ordering = ["role", "hostname", "pid"]
        indexes = [models.Index(fields=["role", "beat_at"], name="heartbeat_role_beat_idx")]

    def __str__(self):
        return f"{self.role} {self.hostname}:{self.pid}"
