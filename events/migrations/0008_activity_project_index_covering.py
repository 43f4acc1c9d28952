"""The feed's (project, created_at, id) index also carries type, status and duration (PostgreSQL INCLUDE), so
insights over a 90-day window are an index-only scan."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0007_activity_search_document'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='activityevent',
            name='event_project_created',
        ),
        migrations.AddIndex(
            model_name='activityevent',
            index=models.Index(fields=['project', '-created_at', '-id'], include=('event_type', 'status', 'duration'), name='event_project_created'),
        ),
    ]
