"""Migrations: which are recorded but not applied, which model changes have none, and the state they promise."""

from django.apps import apps as installed_apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import CreateModel
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

from .findings import Finding


class MigrationHistory:
    def __init__(self, connection):
        self.connection = connection
        self.executor = MigrationExecutor(connection)
        self.loader = self.executor.loader
        self.graph = self.loader.graph
        self.plan = self.executor.migration_plan(self.graph.leaf_nodes())

    def findings(self) -> list[Finding]:
        found = []
        try:
            self.loader.check_consistent_history(self.connection)
        except InconsistentMigrationHistory as exc:
            found.append(
                Finding(
                    "migration_history",
                    "django_migrations",
                    f"migration history is inconsistent: {exc}",
                    "Record the missing dependency (manage.py migrate <app> <migration> --fake) only after checking "
                    "its tables exist, or restore django_migrations from a backup.",
                )
            )
        for migration, backwards in self.plan:
            name = f"{migration.app_label}.{migration.name}"
            found.append(
                Finding(
                    "unapplied_migration",
                    name,
                    f"migration {name} is {'applied but should be unapplied' if backwards else 'not applied'}",
                    f"manage.py migrate {migration.app_label} {migration.name}",
                )
            )
        found += self._changes_without_migration()
        return found

    def note_tables_already_present(self, findings, live_tables):
        """An unapplied migration whose tables all exist was run by hand: record it (--fake), don't re-run it."""
        by_object = {f.object: f for f in findings if f.kind == "unapplied_migration"}
        for migration, backwards in self.plan:
            creates = [op for op in migration.operations if isinstance(op, CreateModel)]
            if backwards or not creates:
                continue
            key = (migration.app_label, migration.name)
            state_apps = self.loader.project_state(key, at_end=True).apps
            tables = [state_apps.get_model(migration.app_label, op.name)._meta.db_table for op in creates]
            if all(table in live_tables for table in tables):
                finding = by_object[f"{migration.app_label}.{migration.name}"]
                finding.message += f"; its tables ({', '.join(tables)}) already exist, so migrate would fail"
                finding.repair = (
                    f"manage.py migrate {migration.app_label} {migration.name} --fake"
                    "   # records it without running it: first check the tables match the migration"
                )

    @property
    def unapplied(self) -> list[str]:
        return [f"{m.app_label}.{m.name}" for m, backwards in self.plan if not backwards]

    def _changes_without_migration(self) -> list[Finding]:
        # The same comparison `makemigrations --check` makes: migration files against the model classes.
        autodetector = MigrationAutodetector(
            self.loader.project_state(),
            ProjectState.from_apps(installed_apps),
            NonInteractiveMigrationQuestioner(specified_apps=set(), dry_run=True),
        )
        changes = autodetector.changes(graph=self.graph)
        found = []
        for app_label, migrations in sorted(changes.items()):
            for migration in migrations:
                for operation in migration.operations:
                    found.append(
                        Finding(
                            "missing_migration",
                            f"{app_label}.{getattr(operation, 'model_name', '') or getattr(operation, 'name', '')}",
                            f"{app_label}: model change without a migration: {operation.describe()}",
                            f"manage.py makemigrations {app_label} -n <descriptive_name> && manage.py migrate {app_label}",
                        )
                    )
        return found

    def applied_state_models(self):
        """The models as the applied migrations built them: what the database must look like right now."""
        if not self.plan:
            state = self.loader.project_state()
        else:
            applied = [key for key in self.graph.nodes if key in self.loader.applied_migrations]
            # Leaves of the applied part of the graph; make_state walks their dependencies.
            leaves = [
                key
                for key in applied
                if not any(child.key in self.loader.applied_migrations for child in self.graph.node_map[key].children)
            ]
            state = self.loader.project_state(nodes=leaves, at_end=True) if leaves else ProjectState()
        return state.apps.get_models(include_auto_created=True)
