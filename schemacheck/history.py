"""Migrations: which are recorded but not applied, which model changes have none, and the state they promise."""

from django.apps import apps as installed_apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import AddField, AddIndex, CreateModel
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState
from django.utils.functional import cached_property

from .findings import Finding
from .operations import AddIndexOutsideState, RemoveIndexOutsideState


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
        found += self.ahead_of_code()
        found += self._changes_without_migration()
        return found

    def plan_records(self, findings: list[Finding], live, at_final_state=lambda app_label: False) -> None:
        """Unapplied migrations whose changes are already in the database lost only their records: one plan records
        them all (instead of one --fake per migration, in an order that may not run), and migrate applies the rest."""
        fake = []
        evidence_of = {}
        for migration, backwards in self.plan:
            if backwards:
                return
            verdict, evidence = self._already_done(migration, live)
            if verdict is False:
                break
            fake.append(migration)
            evidence_of[migration] = evidence
        # Keep the prefix up to the last migration with evidence; a migration with none proves nothing either way.
        while fake and not evidence_of[fake[-1]]:
            fake.pop()
        if not fake:
            return
        # Later migrations that leave no trace of their own (an AlterField, a db_default) are done too when the
        # app's tables already match what the last migration builds.
        for migration, _ in self.plan:
            if migration in fake:
                continue
            if not at_final_state(migration.app_label):
                break
            fake.append(migration)
        names = [f"{m.app_label}.{m.name}" for m in fake]
        found = sorted({e for m in fake for e in evidence_of[m]})
        # The migrations after them are applied by the `migrate` that follows the repair: one finding, one plan.
        rest = [f"{m.app_label}.{m.name}" for m, _ in self.plan if m not in fake]
        findings[:] = [f for f in findings if not (f.kind == "unapplied_migration" and f.object in names + rest)]
        history = next((f for f in findings if f.kind == "migration_history"), None)
        message = (
            f"{len(names)} migration(s) are not recorded in django_migrations although the database already has "
            f"what they create ({', '.join(found[:8])}{', …' if len(found) > 8 else ''}): {', '.join(names)}; "
            "running them would fail on objects that exist"
            + (f"; then migrate applies {', '.join(rest)}" if rest else "")
        )
        if history is not None:
            # migrate refuses an inconsistent history outright: record the rows directly.
            values = ", ".join(f"('{m.app_label}', '{m.name}', CURRENT_TIMESTAMP)" for m in fake)
            history.message += f"; {message}"
            history.repair = (
                "-- Records the migrations whose objects exist (the rest of the history then is consistent):\n"
                f"INSERT INTO django_migrations (app, name, applied) VALUES {values};"
            )
            return
        last = {m.app_label: m.name for m in fake}
        commands = "\n".join(f"manage.py migrate {app} {name} --fake" for app, name in last.items())
        findings.insert(
            0,
            Finding(
                "migration_records",
                "django_migrations",
                message,
                f"{commands}\n# records them without running them; then `manage.py migrate` applies the rest",
            ),
        )

    def _already_done(self, migration, live) -> tuple[bool | None, list[str]]:
        """(True, what was found) when the database shows the migration's changes; False when it shows their absence."""
        state = self.loader.project_state((migration.app_label, migration.name), at_end=True).apps
        evidence = []
        for op in migration.operations:
            model_name = getattr(op, "model_name", None) or getattr(op, "name", None)
            try:
                model = state.get_model(migration.app_label, model_name) if model_name else None
            except LookupError:
                model = None
            if model is not None and not self._survives(op, model):
                continue  # a later migration removed it: its absence says nothing about this one
            table = live.get(model._meta.db_table) if model is not None else None
            if isinstance(op, CreateModel) and model is not None:
                if table is None:
                    return False, []
                evidence.append(model._meta.db_table)
            elif isinstance(op, AddField) and model is not None:
                column = model._meta.get_field(op.name).column
                if table is None or column not in table.columns:
                    return False, []
                evidence.append(f"{model._meta.db_table}.{column}")
            elif isinstance(op, AddIndex) and table is not None:
                if not any(i.name == op.index.name for i in table.indexes):
                    return False, []
                evidence.append(op.index.name)
        return (True if evidence else None), evidence

    @cached_property
    def _final_state(self):
        return self.loader.project_state().apps

    def _survives(self, op, model) -> bool:
        """Whether what the operation creates still exists once every migration has run."""
        try:
            final = self._final_state.get_model(model._meta.app_label, model._meta.model_name)
        except LookupError:
            return False
        if final._meta.db_table != model._meta.db_table:
            return False
        if isinstance(op, AddField):
            column = model._meta.get_field(op.name).column
            return any(getattr(f, "column", None) == column for f in final._meta.local_fields)
        if isinstance(op, AddIndex):
            return any(i.name == op.index.name for i in final._meta.indexes)
        return True

    def ahead_of_code(self) -> list[Finding]:
        """Records of migrations this code does not have: the database was migrated by a newer release."""
        replaced = {key for m in self.loader.replacements.values() for key in m.replaces}
        found = []
        for app, name in sorted(self.loader.applied_migrations):
            if app not in self.loader.migrated_apps or (app, name) in self.loader.disk_migrations or (app, name) in replaced:
                continue
            known = [key[1] for key in self.graph.leaf_nodes(app)]
            found.append(
                Finding(
                    "migration_ahead",
                    f"{app}.{name}",
                    f"django_migrations records {app}.{name}, a migration this code does not have (its latest for "
                    f"{app} is {', '.join(known) or 'none'}): the database was migrated by a newer release",
                    f"-- Deploy the release that has it, or with that release migrate back: manage.py migrate {app} "
                    f"{known[0] if known else 'zero'}\n"
                    "-- Only once its changes are gone (or it changed nothing here), forget the record:\n"
                    f"DELETE FROM django_migrations WHERE app = '{app}' AND name = '{name}';",
                )
            )
        return found

    def outside_state_indexes(self, state_apps) -> list[tuple]:
        """(model, index, source) for each index applied migrations created outside the model state."""
        indexes: dict[tuple, tuple] = {}
        for key in self._applied_in_order():
            migration = self.graph.nodes[key]
            for op in migration.operations:
                if not isinstance(op, AddIndexOutsideState) or not op.applies_to(self.connection):
                    continue
                slot = (key[0], op.model_name.lower(), op.index.name)
                if isinstance(op, RemoveIndexOutsideState):
                    indexes.pop(slot, None)
                else:
                    indexes[slot] = (op, f"migration {key[0]}.{key[1]}")
        result = []
        for (app, model_name, _), (op, source) in indexes.items():
            try:
                result.append((state_apps.get_model(app, model_name), op.index, source))
            except LookupError:
                continue
        return result

    def _applied_in_order(self) -> list[tuple]:
        ordered: dict[tuple, None] = {}
        for leaf in self.graph.leaf_nodes():
            for key in self.graph.forwards_plan(leaf):
                if key in self.loader.applied_migrations:
                    ordered[key] = None
        return list(ordered)

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
        return self.applied_state().apps.get_models(include_auto_created=True)

    def applied_state(self) -> ProjectState:
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
        return state
