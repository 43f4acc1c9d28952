"""PostgreSQL: activity events and audit actions become partitioned by month on created_at (events/partitions.py).

Native declarative partitioning; the rows, indexes, constraints, foreign keys and the id sequence's position are
kept, and the reverse rebuilds plain tables. Django's state does not change: the database's keys gain
created_at (PostgreSQL requires the partition key in them), which check_schema accepts. SQLite stays plain.
"""

from django.db import migrations

TABLES = ("events_activityevent", "project_actions")


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from events.partitions import convert_table, is_partitioned

    for table in TABLES:
        if not is_partitioned(table, schema_editor.connection):
            convert_table(schema_editor, table, partitioned=True)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from events.partitions import convert_table, is_partitioned

    for table in TABLES:
        if is_partitioned(table, schema_editor.connection):
            convert_table(schema_editor, table, partitioned=False)


class Migration(migrations.Migration):
    # Retention (events/retention.py) prunes these tables by each project's retention_days.
    dependencies = [("events", "0008_activity_project_index_covering"), ("projects", "0004_project_retention_days")]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
