"""PostgreSQL full-text GIN index for the activity feed's text search; nothing on other databases.

The index expression is events.models.activity.search_vector(), the same expression
ActivityEventQuerySet.search() filters on, so the planner can match them. It is not declared in the model's
Meta (SQLite cannot build it), hence this vendor-conditional operation; the autodetector never sees it, and
check_schema expects the index while this migration is the last word on it.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from schemacheck.operations import AddIndexOutsideState

INDEX_NAME = "event_search_gin"


def _index():
    from events.models.activity import search_vector

    return GinIndex(search_vector(), name=INDEX_NAME)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [AddIndexOutsideState("activityevent", _index(), vendors=["postgresql"])]
