"""Migrations: which are recorded but not applied, which model changes have none, and the state they promise."""

from django.apps import apps as installed_apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython, RunSQL
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

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

    def lost_records(self, matches) -> list:
        """Unapplied migrations the database shows were applied: their django_migrations rows were lost.

        A migration is proven applied when a migration that depends on it is recorded (Django applied them in
        order). Otherwise, per app: when the app's tables do not match the state the records describe but do match
        the state after its first k unapplied migrations, those k were applied (the smallest such k: a migration
        after it is left to migrate). Later migrations that leave no trace in the tables (an AlterField, a
        db_default) are taken too unless they run code (RunPython, RunSQL), whose effect on rows cannot be seen.
        `matches(app_label, nodes)` says whether the app's tables are exactly as the migrations `nodes` build them.
        """
        if any(backwards for _, backwards in self.plan):
            return []
        applied = set(self.loader.applied_migrations)
        # Every migration not recorded, in order: the plan leaves out one whose dependants are all recorded.
        keys = [key for key in self._applied_in_order(set(self.graph.nodes)) if key not in applied]
        if not keys:
            return []
        chosen = {key for key in keys if any(d in applied for d in self.graph.backwards_plan(key) if d != key)}
        for app in dict.fromkeys(app for app, _ in keys):
            pending = [key for key in keys if key[0] == app and key not in chosen]
            base = applied | chosen
            if not pending or matches(app, base):
                continue  # the app's tables are where its records say: what is unapplied is pending
            for count in range(1, len(pending) + 1):
                nodes = base | set(pending[:count])
                if not matches(app, nodes):
                    continue
                chosen |= set(pending[:count])
                for key in pending[count:]:
                    if self._runs_code(key) or not matches(app, nodes | {key}):
                        break
                    chosen.add(key)
                    nodes.add(key)
                break
        # Record nothing whose own unapplied dependencies are not recorded with it.
        changed = True
        while changed:
            changed = False
            for key in list(chosen):
                if any(d not in applied and d not in chosen for d in self.graph.forwards_plan(key) if d != key):
                    chosen.discard(key)
                    changed = True
        return [self.graph.nodes[key] for key in keys if key in chosen]

    def _runs_code(self, key) -> bool:
        return any(isinstance(op, RunPython | RunSQL) for op in self.graph.nodes[key].operations)

    def state_of(self, nodes) -> ProjectState:
        """The project state the migrations `nodes` (with their dependencies) build."""
        nodes = {key for key in nodes if key in self.graph.nodes}  # records of migrations this code lacks: ignored
        leaves = [key for key in nodes if not any(child.key in nodes for child in self.graph.node_map[key].children)]
        return self.loader.project_state(nodes=leaves, at_end=True) if leaves else ProjectState()

    def created_by(self, lost: list) -> list[str]:
        """Tables the lost migrations create (the state with them has, the recorded state has not)."""
        applied = set(self.loader.applied_migrations)
        before = {m._meta.db_table for m in self.state_of(applied).apps.get_models(include_auto_created=True)}
        after = self.state_of(applied | {(m.app_label, m.name) for m in lost}).apps.get_models(include_auto_created=True)
        return sorted({m._meta.db_table for m in after} - before)

    def plan_records(self, findings: list[Finding], lost: list) -> None:
        """One finding whose repair records the migrations `lost_records` found (instead of one --fake per migration,
        in an order that may not run); migrate then applies the rest."""
        if not lost:
            return
        names = [f"{m.app_label}.{m.name}" for m in lost]
        applied = set(self.loader.applied_migrations)
        proven = [f"{m.app_label}.{m.name}" for m in lost
                  if any(d in applied for d in self.graph.backwards_plan((m.app_label, m.name))
                         if d != (m.app_label, m.name))]
        shown = sorted({m.app_label for m in lost if f"{m.app_label}.{m.name}" not in proven})
        reasons = []
        if proven:
            reasons.append(f"migrations that depend on {', '.join(proven[:4])}{', …' if len(proven) > 4 else ''} "
                           "are recorded as applied")
        if shown:
            tables = self.created_by(lost)
            reasons.append(
                f"the database already has what they create ({', '.join(tables[:8])}{', …' if len(tables) > 8 else ''})"
                if tables else f"the tables of {', '.join(shown)} already are as they build them")
        rest = [f"{m.app_label}.{m.name}" for m, _ in self.plan if m not in lost]
        findings[:] = [f for f in findings if not (f.kind == "unapplied_migration" and f.object in names + rest)]
        message = (
            f"{len(names)} migration(s) are not recorded in django_migrations although the database shows they were "
            f"applied ({'; '.join(reasons)}): {', '.join(names)}; running them again would fail on objects that "
            "exist (or repeat their changes)"
            + (f"; then migrate applies {', '.join(rest)}" if rest else "")
        )
        history = next((f for f in findings if f.kind == "migration_history"), None)
        if history is not None:
            # migrate refuses an inconsistent history outright: record the rows directly.
            values = ", ".join(f"('{m.app_label}', '{m.name}', CURRENT_TIMESTAMP)" for m in lost)
            history.message += f"; {message}"
            history.repair = (
                "-- Records the migrations the database shows were applied (the history then is consistent):\n"
                f"INSERT INTO django_migrations (app, name, applied) VALUES {values};"
                + ("\nmanage.py migrate" if rest else "")
            )
            return
        last = {m.app_label: m.name for m in lost}
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

    def outside_state_indexes(self, state_apps, nodes=None) -> list[tuple]:
        """(model, index, source) for each index the migrations `nodes` (default: the applied ones) created outside
        the model state."""
        indexes: dict[tuple, tuple] = {}
        for key in self._applied_in_order(nodes):
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

    def _applied_in_order(self, nodes=None) -> list[tuple]:
        nodes = self.loader.applied_migrations if nodes is None else nodes
        ordered: dict[tuple, None] = {}
        for leaf in self.graph.leaf_nodes():
            for key in self.graph.forwards_plan(leaf):
                if key in nodes:
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
        return [
            Finding(
                "missing_migration",
                f"{app_label}.{getattr(operation, 'model_name', '') or getattr(operation, 'name', '')}",
                f"{app_label}: model change without a migration: {operation.describe()}",
                f"manage.py makemigrations {app_label} -n <descriptive_name> && manage.py migrate {app_label}",
            )
            for app_label, migrations in sorted(changes.items())
            for migration in migrations
            for operation in migration.operations
        ]

    def applied_state_models(self):
        """The models as the applied migrations built them: what the database must look like right now."""
        return self.applied_state().apps.get_models(include_auto_created=True)

    def applied_state(self, recorded=()) -> ProjectState:
        """The state the applied migrations build, with `recorded` (lost records, see lost_records) counted as applied."""
        extra = {(m.app_label, m.name) for m in recorded}
        if all((m.app_label, m.name) in extra for m, _ in self.plan):
            return self.loader.project_state()
        return self.state_of(set(self.loader.applied_migrations) | extra)
