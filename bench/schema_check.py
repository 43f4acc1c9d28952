"""check_schema on the full schema: total time and its parts (migrations + autodetector, catalogs, comparison).

The check reads catalogs; of table rows only the DEFAULT partitions' (`--default-rows` puts rows there, far ahead,
where they belong) and a detached partition's. The number of tables and partitions is what grows it
(`--months-ahead` creates partitions that far ahead first, as `create_partitions --months-ahead` does).
"""

import os

from bench.common import machine_line, timed


def add_arguments(parser):
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--months-ahead", type=int, default=0, help="Create monthly partitions this far ahead first.")
    parser.add_argument("--default-rows", type=int, default=0, help="Rows (dated far ahead) in each DEFAULT partition.")


def run(args):
    from django.db import connection

    import schemacheck as schema
    from events.partitions import ensure_partitions
    from schemacheck.compare import compare_tables
    from schemacheck.expected import expected_tables
    from schemacheck.history import MigrationHistory
    from schemacheck.live import read_live_schema
    from schemacheck.partitions import PartitionCheck, expect_partitioning
    from schemacheck.render import _CACHE, render_reference

    if args.months_ahead:
        ensure_partitions(args.months_ahead)
    if args.default_rows:
        _fill_defaults(connection, args.default_rows)
    report = schema.check()
    assert report.ok, [f.message for f in report.findings]
    print(machine_line())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent WHERE c.relkind = 'p'")
        partitions = cursor.fetchone()[0]
    print(f"tables checked: {report.tables_checked}; partitions: {partitions}; rows in each DEFAULT partition: "
          f"{args.default_rows} (load average {os.getloadavg()[0]:.1f})")

    def history():
        h = MigrationHistory(connection)
        h.findings()
        return h

    h = history()
    state = h.applied_state()
    models = list(state.apps.get_models(include_auto_created=True))
    outside = h.outside_state_indexes(state.apps)
    expected = expected_tables(models, connection, outside)
    expect_partitioning(expected, h.loader.applied_migrations, connection)

    def cold_check():
        _CACHE.clear()  # what one `manage.py check_schema` run pays: PostgreSQL renders the tables it must decide
        return schema.check()

    def render(tables):
        _CACHE.clear()
        return render_reference(connection, tables)

    live = read_live_schema(connection)
    parts = {
        "full check, first run in a process (cold)": cold_check,
        "full check, repeated (rendering cached)": schema.check,
        "migrations: loader + plan + autodetector": history,
        "models as the applied migrations built them": lambda: list(h.applied_state_models()),
        "catalog read (5 queries)": lambda: read_live_schema(connection),
        "expected tables from model meta": lambda: expected_tables(models, connection, outside),
        "comparison, text only": lambda: compare_tables(expected, live, connection),
        "comparison with PostgreSQL rendering (cold)": lambda: compare_tables(expected, live, connection, render=render),
        "partition layout (incl. DEFAULT rows)": lambda: PartitionCheck(expected, live, connection).run(),
    }
    for name, fn in parts.items():
        median, p95, _ = timed(fn, repeat=args.repeat, warmup=2)
        print(f"{name:48s} median {median:7.1f} ms   p95 {p95:7.1f} ms   (n={args.repeat})")


def _fill_defaults(connection, rows):
    """`rows` events and audit actions dated in 2200 (the DEFAULT partition's by design), once."""
    from datetime import UTC, datetime

    from events.models import ActivityEvent, ProjectAction
    from projects.models import Project

    project, _ = Project.objects.get_or_create(slug="bench-schema-check", defaults={"name": "Bench schema check"})
    far = datetime(2200, 1, 1, tzinfo=UTC)
    have = ActivityEvent.objects.filter(project=project, created_at__gte=far).count()
    ActivityEvent.objects.bulk_create(
        [ActivityEvent(project=project, event_type="INDEXING_STARTED", entity_type="bench", title="far", created_at=far)
         for _ in range(max(0, rows - have))], batch_size=5000)
    have = ProjectAction.objects.filter(project=project, created_at__gte=far).count()
    ProjectAction.objects.bulk_create(
        [ProjectAction(project=project, action_type="deployment", created_at=far) for _ in range(max(0, rows - have))],
        batch_size=5000)
