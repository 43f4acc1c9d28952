"""PostgreSQL full-text GIN index for the activity feed's text search; nothing on other databases.

The index expression is events.models.activity.search_vector(), the same expression
ActivityEventQuerySet.search() filters on, so the planner can match them. It is not declared in the model's
Meta (SQLite cannot build it), hence this vendor-conditional operation; the autodetector never sees it.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

INDEX_NAME = "event_search_gin"


def _index():
    from events.models.activity import search_vector

    return GinIndex(search_vector(), name=INDEX_NAME)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.add_index(apps.get_model("events", "ActivityEvent"), _index())


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX_NAME}"')


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
