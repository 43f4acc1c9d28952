"""PeriodicJob and ProcessHeartbeat move here from activityhub. Their tables stay as they are (the models keep
`db_table`), so this only takes the models into this app's state; activityhub.0002 lets go of them.

Two rows elsewhere name the old place and are moved with them: the content types (so permissions and admin
history stay attached) and the tasks still waiting in the database queue (task_path `activityhub.jobs.…` is now
`processes.jobs.…`; a waiting task with the old path would fail to import). Finished tasks keep their history.
"""

import django.utils.timezone
from django.db import migrations, models

MODELS = ["periodicjob", "processheartbeat"]


def _move_content_types(apps, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def _move_waiting_tasks(apps, source, target):
    DBTaskResult = apps.get_model("django_tasks_database", "DBTaskResult")
    for task in DBTaskResult.objects.filter(status="READY", task_path__startswith=f"{source}.jobs."):
        task.task_path = f"{target}.jobs." + task.task_path.removeprefix(f"{source}.jobs.")
        task.save(update_fields=["task_path"])


def forwards(apps, schema_editor):
    _move_content_types(apps, "activityhub", "processes")
    _move_waiting_tasks(apps, "activityhub", "processes")


def backwards(apps, schema_editor):
    _move_content_types(apps, "processes", "activityhub")
    _move_waiting_tasks(apps, "processes", "activityhub")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("activityhub", "0001_periodic_jobs_and_heartbeats"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PeriodicJob",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=100, unique=True)),
                        ("next_run_at", models.DateTimeField()),
                        ("last_enqueued_at", models.DateTimeField(blank=True, null=True)),
                        ("last_task_id", models.CharField(blank=True, default="", max_length=64)),
                        ("enqueued_count", models.PositiveIntegerField(default=0)),
                        ("skipped_count", models.PositiveIntegerField(default=0, help_text="Runs skipped because the previous one was still queued.")),
                        ("claimed_by", models.CharField(blank=True, max_length=32, null=True)),
                        ("claimed_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "activityhub_periodicjob", "ordering": ["name"]},
                ),
                migrations.CreateModel(
                    name="ProcessHeartbeat",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("process_id", models.CharField(help_text="Also the django-tasks-db worker id.", max_length=64, unique=True)),
                        ("role", models.CharField(choices=[("worker", "Task worker"), ("scheduler", "Scheduler")], max_length=20)),
                        ("hostname", models.CharField(max_length=255)),
                        ("pid", models.PositiveIntegerField()),
                        ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("beat_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("task_name", models.CharField(blank=True, default="", help_text="The task running now, if any.", max_length=255)),
                        ("task_started_at", models.DateTimeField(blank=True, null=True)),
                        ("tasks_done", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "activityhub_processheartbeat",
                        "ordering": ["role", "hostname", "pid"],
                        "indexes": [models.Index(fields=["role", "beat_at"], name="heartbeat_role_beat_idx")],
                    },
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
