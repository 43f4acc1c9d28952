"""PeriodicJob and ProcessHeartbeat now belong to the processes app (processes.0001 took them over, tables and
all); activityhub holds no models. Nothing changes in the database."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("activityhub", "0001_periodic_jobs_and_heartbeats"),
        ("processes", "0001_process_model_moves_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="PeriodicJob"),
                migrations.DeleteModel(name="ProcessHeartbeat"),
            ],
        ),
    ]
