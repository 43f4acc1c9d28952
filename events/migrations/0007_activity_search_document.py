"""The feed's full-text document as a stored generated column, with its GIN index (PostgreSQL).

Searching through 0002's expression index meant running to_tsvector on every row the planner walked in date
order; a stored vector is read, not recomputed. The GIN index moves from the expression to the column, on
PostgreSQL only (SQLite cannot build it; the column is NULL there and search uses a contains).
"""

import django.contrib.postgres.search
from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models

import events.models.activity
from schemacheck.operations import AddIndexOutsideState, RemoveIndexOutsideState

OLD_INDEX = "event_search_gin"
NEW_INDEX = "event_search_document_gin"


def _old_index():
    from events.models.activity import search_vector

    return GinIndex(search_vector(), name=OLD_INDEX)


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
        RemoveIndexOutsideState("activityevent", _old_index(), vendors=["postgresql"]),
        AddIndexOutsideState("activityevent", GinIndex(fields=["search_document"], name=NEW_INDEX), vendors=["postgresql"]),
    ]
