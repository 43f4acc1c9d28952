import uuid

from django.db import migrations


def give_each_schedule_a_token(apps, schema_editor):
    Schedule = apps.get_model("monitoring", "WorkflowSchedule")
    for pk in Schedule.objects.filter(ping_token__isnull=True).values_list("pk", flat=True).iterator():
        Schedule.objects.filter(pk=pk).update(ping_token=uuid.uuid4())


class Migration(migrations.Migration):
    """Step 2 of 3: every existing schedule gets its own secret ping token."""

    dependencies = [("monitoring", "0011_schedule_ping_token")]

    operations = [migrations.RunPython(give_each_schedule_a_token, migrations.RunPython.noop, elidable=True)]
