"""Retention: remove activity events and audit actions older than their project's `retention_days`.

    plan = prune_activity(dry_run=True)   # what would go, nothing removed
    plan = prune_activity()               # remove it; plan.lines() says what went

On PostgreSQL the tables are partitioned by month (events/partitions.py). Retention is per project but a
partition holds one month of every project, so a month partition is DROPPED only when every project with rows
in it has passed its retention for the whole month (the partition ends on or before each one's cutoff); from a
partition that must stay, the rows of projects with a shorter retention are deleted in batches. The DEFAULT
partition (rows no month accepted) is always pruned row by row. An empty month partition is dropped once every
project's cutoff is past it. On SQLite the same batched DELETE runs on the
plain tables. Each batch commits on its own, so pruning never holds a long lock nor a long transaction.

The audit trail is append-only through the app (ProjectActionQuerySet refuses deletes); retention is the one
remover, and it deletes with SQL. Afterwards each hash chain's start moves to its first surviving entry, signed
(events/audit.py), so verify_audit still proves the rest; the pruning is recorded, with its row counts, by
"retention pruning". Rollups live in their own tables (workflow_daily_stats, chunk performance,
content gaps) and are never touched here.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from projects.models import Project

from .audit import chains, checkpoint_after_pruning, record_pruning
from .models.activity import ActivityEvent, ProjectAction
from .partitions import default_partition_name, forget_partitions, is_partitioned, monthly_partitions

MODELS = (ActivityEvent, ProjectAction)


@dataclass
class Removal:
    table: str  # the table or partition the rows are in
    rows: int
    drop: bool = False  # the whole partition is dropped
    project: str = ""  # slug, for a row-by-row delete
    project_id: int | None = None
    before: datetime | None = None
    exact: bool = True  # False: a dropped partition's row count is PostgreSQL's estimate

    def line(self, done: bool) -> str:
        if self.drop:
            rows = f"{self.rows:,} rows" if self.exact else f"about {self.rows:,} rows"
            return f"{'dropped' if done else 'would drop'} partition {self.table} ({rows})"
        verb = "deleted" if done else "would delete"
        return (f"{verb} {self.rows:,} rows of project {self.project} from {self.table} "
                f"(created before {self.before:%Y-%m-%d %H:%M} UTC)")


@dataclass
class Plan:
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.removals)

    def lines(self) -> list[str]:
        return [r.line(not self.dry_run) for r in self.removals] or ["nothing to remove"]

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "rows": self.rows,
                "dropped_partitions": [r.table for r in self.removals if r.drop], "lines": self.lines()}


def cutoffs(now: datetime) -> dict[int, tuple[str, datetime]]:
    """project id → (slug, the moment before which its activity goes)."""
    return {pk: (slug, now - timedelta(days=days))
            for pk, slug, days in Project.objects.values_list("pk", "slug", "retention_days")}


def _projects_in(table: str) -> list[int]:
    # Distinct project ids by skipping through the (project_id, …) index, one probe per project.
    qn = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE p AS (SELECT min(project_id) AS id FROM {qn} UNION ALL "
            f"SELECT (SELECT min(project_id) FROM {qn} WHERE project_id > p.id) FROM p WHERE p.id IS NOT NULL) "
            "SELECT id FROM p WHERE id IS NOT NULL"
        )
        return [pk for (pk,) in cursor.fetchall()]


def _count(table: str, project_id: int, before: datetime, column: str) -> int:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {qn(table)} WHERE project_id = %s AND {qn(column)} < %s",
                       [project_id, before])
        return cursor.fetchone()[0]


def _delete_in_batches(table: str, pk: str, project_id: int, before: datetime, column: str, batch: int) -> int:
    qn = connection.ops.quote_name
    statement = (f"DELETE FROM {qn(table)} WHERE {qn(pk)} IN (SELECT {qn(pk)} FROM {qn(table)} "
                 f"WHERE project_id = %s AND {qn(column)} < %s LIMIT %s)")
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [project_id, before, batch])
            count = cursor.rowcount
        deleted += count
        if count < batch:
            return deleted


def _row_removals(table, project_ids, cuts, start, column) -> list[Removal]:
    removals = []
    for project_id in project_ids:
        slug, cutoff = cuts.get(project_id, ("?", None))
        if cutoff is None or (start is not None and cutoff <= start):
            continue
        rows = _count(table, project_id, cutoff, column)
        if rows:
            removals.append(Removal(table, rows, project=slug, project_id=project_id, before=cutoff))
    return removals


def _partition_rows(name: str, exact: bool) -> int:
    """A dry run counts; a real drop reports the planner's estimate (counting a month would take longer than the drop)."""
    with connection.cursor() as cursor:
        if exact:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")
        else:
            cursor.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", [name])
        return cursor.fetchone()[0]


def plan_removals(model, now: datetime, exact: bool = True) -> list[Removal]:
    table, column = model._meta.db_table, "created_at"
    cuts = cutoffs(now)
    if not is_partitioned(table):
        return _row_removals(table, sorted(cuts), cuts, None, column)
    removals = []
    for name, start, end in monthly_partitions(table):
        if start >= now:
            continue
        present = _projects_in(name)
        # An empty month goes once no project could want its rows back (each one's cutoff is past it).
        if end <= now and all(pk in cuts and end <= cuts[pk][1] for pk in present or cuts):
            removals.append(Removal(name, _partition_rows(name, exact=exact), drop=True, exact=exact))
        else:
            removals += _row_removals(name, present, cuts, start, column)
    default = default_partition_name(table)
    removals += _row_removals(default, _projects_in(default), cuts, None, column)
    return removals


def prune_activity(*, dry_run: bool = False, now: datetime | None = None, batch: int | None = None) -> Plan:
    now = now or datetime.now(UTC)
    batch = batch or settings.RETENTION_DELETE_BATCH
    plan = Plan(dry_run)
    for model in MODELS:
        pk = model._meta.pk.column
        for removal in plan_removals(model, now, exact=dry_run):
            if not dry_run:
                if removal.drop:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK check left on its rows
                        cursor.execute(f"DROP TABLE {connection.ops.quote_name(removal.table)}")
                    forget_partitions()  # this process's feed windows stop planning the month that went
                else:
                    if not pk or removal.project_id is None or removal.before is None:
                        raise ValueError(f"removing rows of {removal.table} needs its key, a project and a cutoff")
                    removal.rows = _delete_in_batches(removal.table, pk, removal.project_id, removal.before,
                                                      "created_at", batch)
            plan.removals.append(removal)
    if not dry_run and plan.removals:
        # The oldest audit entries went: each chain now starts at its first surviving entry (signed), and the
        # pruning itself is an entry of its own.
        checkpoint_after_pruning(chains())
        record_pruning(plan)
    return plan

