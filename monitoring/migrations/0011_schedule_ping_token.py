from django.db import migrations, models


class Migration(migrations.Migration):
    """Step 1 of 3 for a unique column on existing rows (Django's documented way): nullable, not unique."""

    dependencies = [("monitoring", "0010_daily_stats_longest_run")]

    operations = [
        migrations.AddField(
            model_name="workflowschedule",
            name="ping_token",
            field=models.UUIDField(editable=False, null=True),
        ),
    ]
