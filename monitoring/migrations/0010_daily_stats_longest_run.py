from datetime import UTC

from django.db import migrations, models
from django.db.models import Max
from django.db.models.functions import TruncDate


def fill_longest_runs(apps, schema_editor):
    """Each existing day's longest timed run, from the runs (one grouped query)."""
    Stats = apps.get_model("monitoring", "WorkflowDailyStats")
    Execution = apps.get_model("monitoring", "WorkflowExecution")
    longest = (
        Execution.objects.filter(duration_ms__isnull=False).exclude(status="RUNNING")
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values_list("project_id", "workflow_name", "environment", "day").annotate(m=Max("duration_ms")).order_by()
    )
    for project_id, workflow_name, environment, day, m in longest.iterator():
        Stats.objects.filter(project_id=project_id, workflow_name=workflow_name, environment=environment,
                             day=day).update(max_duration_ms=m)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0009_health_check_id_per_project")]

    operations = [
        migrations.AddField(
            model_name="workflowdailystats",
            name="max_duration_ms",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(fill_longest_runs, migrations.RunPython.noop, elidable=True),
    ]
