"""The feed's full-text document as a stored generated column, with its GIN index (PostgreSQL).

Searching through 0002's expression index meant running to_tsvector on every row the planner walked in date
order; a stored vector is read, not recomputed. The GIN index moves from the expression to the column, on
PostgreSQL only (SQLite cannot build it; the column is NULL there and search uses a contains).
"""

import django.contrib.postgres.search
from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models

import events.models.activity

OLD_INDEX = "event_search_gin"
NEW_INDEX = "event_search_document_gin"


def _old_index():
    from events.models.activity import search_vector

    return GinIndex(search_vector(), name=OLD_INDEX)


def index_column(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("events", "ActivityEvent")
    schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD_INDEX}"')
    schema_editor.add_index(model, GinIndex(fields=["search_document"], name=NEW_INDEX))


def index_expression(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW_INDEX}"')
    schema_editor.add_index(apps.get_model("events", "ActivityEvent"), _old_index())


class Migration(migrations.Migration):
    dependencies = [("events", "0006_msgevent_conversation_type_index")]

    operations = [
        migrations.AddField(
            model_name="activityevent",
            name="search_document",
            field=models.GeneratedField(
                db_persist=True,
                expression=events.models.activity.SearchDocument(),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.RunPython(index_column, index_expression, elidable=False),
    ]
