"""Tasks the worker tests enqueue; the worker processes import them from here like any task module."""

import time
from pathlib import Path

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from processes.jobs import retried_task


@task
def write_file(path: str, text: str) -> str:
    Path(path).write_text(text)
    return text


@retried_task
def always_fails(path: str) -> None:
    with Path(path).open("a") as attempts:
        attempts.write(f"{timezone.now().isoformat()}\n")
    raise RuntimeError("the service this job needs is down")


@task
def slow_write(name: str, started_path: str) -> str:
    """Writes a row in a transaction; the first run then blocks until its worker is stopped, so it never commits."""
    from processes.models import PeriodicJob

    first_run = not Path(started_path).exists()
    with transaction.atomic():
        PeriodicJob.objects.create(name=name, next_run_at=timezone.now())
        Path(started_path).write_text("started")
        if first_run:
            time.sleep(120)
    return "written"


@retried_task(deadline=1.0)
def overstays(started_path: str, seconds: float = 8) -> str:
    """Declares a 1 s deadline, then runs for `seconds`: its worker is stuck meanwhile."""
    Path(started_path).write_text("started")
    time.sleep(seconds)
    return "done"
