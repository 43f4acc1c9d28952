"""check_schema on the full schema: total time and its parts (migrations + autodetector, catalogs, comparison).

The check reads catalogs, never table rows, so row counts do not change it; the number of tables does.
"""

from bench.common import machine_line, timed


def add_arguments(parser):
    parser.add_argument("--repeat", type=int, default=30)


def run(args):
    from django.db import connection

    import schemacheck as schema
    from schemacheck.compare import compare_tables
    from schemacheck.expected import expected_tables
    from schemacheck.history import MigrationHistory
    from schemacheck.live import read_live_schema
    from schemacheck.render import _CACHE, render_reference

    report = schema.check()
    assert report.ok, [f.message for f in report.findings]
    print(machine_line())
    print(f"tables checked: {report.tables_checked}")

    def history():
        h = MigrationHistory(connection)
        h.findings()
        return h

    h = history()
    state = h.applied_state()
    models = list(state.apps.get_models(include_auto_created=True))
    outside = h.outside_state_indexes(state.apps)
    expected = expected_tables(models, connection, outside)

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
    }
    for name, fn in parts.items():
        median, p95, _ = timed(fn, repeat=args.repeat, warmup=2)
        print(f"{name:48s} median {median:7.1f} ms   p95 {p95:7.1f} ms   (n={args.repeat})")
