"""A task worker for whichever backend TASKS configures: django-tasks-db's (database) or django-tasks-redis's.

    manage.py worker                      # run tasks until SIGTERM/SIGINT
    manage.py worker --shutdown-timeout 25  # on SIGTERM the running task gets 25 s, then goes back to the queue

Run as many as you need throughput. Each keeps a heartbeat row that /healthz?deep=1 reports (with the task it is
running and that task's deadline). The health checks a monitoring pass started run on this worker's check threads
beside its tasks; a worker told to stop does not wait for them: it hands their claims back (another worker runs
them) and exits within its shutdown timeout, even while a request to a slow server is in flight.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.tasks import task_backends

from processes.models import Role
from processes.workers import Heartbeat, database_worker_class


class Command(BaseCommand):
    help = "Run background tasks (database or Redis backend, from TASKS); graceful on SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--shutdown-timeout", type=float, default=20.0,
                            help="Seconds the running task may take after SIGTERM before it is interrupted and "
                                 "put back in the queue (default 20; keep it below the orchestrator's grace period).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls when idle (database).")
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after this many tasks.")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit (database backend).")
        parser.add_argument("--claim-interval", type=float, default=60.0,
                            help="Redis: seconds between looks for tasks of dead workers to take over (default 60).")

    def handle(self, *args, shutdown_timeout, interval, max_tasks, batch, claim_interval, **options):
        from django_tasks_db.backend import DatabaseBackend

        backend = task_backends["default"]
        heartbeat = Heartbeat(Role.WORKER, threaded=True).start()
        told_to_stop = False
        try:
            if isinstance(backend, DatabaseBackend):
                self.stdout.write(f"worker {heartbeat.process_id}: database backend")
                worker = database_worker_class()(
                    queue_names=["*"], interval=interval, batch=batch, backend_name="default",
                    startup_delay=False, max_tasks=max_tasks, worker_id=heartbeat.process_id,
                    excluded_queue_names=[], shutdown_timeout=shutdown_timeout,
                )
                worker.configure_signals()
                try:
                    worker.run()
                except SystemExit as stop:  # how django-tasks-db's worker leaves its idle sleep on SIGTERM
                    if stop.code not in (0, None):
                        raise
                finally:
                    told_to_stop = worker.stop_requested
                    worker.reset_signals()
            else:
                self.stdout.write(f"worker {heartbeat.process_id}: {type(backend).__name__}")
                options = {"continuous": not batch, "shutdown_timeout": shutdown_timeout, "claim_interval": claim_interval}
                if max_tasks:
                    options["max_tasks"] = max_tasks
                call_command("run_redis_tasks", **options)
        finally:
            from monitoring.checks import release_unfinished_checks

            # Out of work (--batch, --max-tasks): the checks started here may finish (each within its timeout,
            # at most 60 s; a signal now ends the process). Told to stop: they are handed back at once.
            ran_out = bool(batch or max_tasks) and not told_to_stop
            release_unfinished_checks(wait=65 if ran_out else 0)
            heartbeat.stop()
        self.stdout.write("worker stopped")
