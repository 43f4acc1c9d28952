"""A finding is one difference between the live database and what the code expects, with its repair and severity.

Severity says what the difference does to the application:
- "error": the app fails, stores or changes data wrongly, cannot see rows, or the database lacks what the migrations
  built (a table, column, index, constraint, the partitioning);
- "warning": the app works as the model says, but the database is stricter than the model (a rule it adds: an extra
  unique index or check, NOT NULL, a rule on one partition) — which may be a deliberate business rule — or holds rows
  where maintenance does not expect them (rows in a DEFAULT partition), or a different text locale.
`manage.py check_schema` exits 1 on any error, 3 when there are only warnings (`--fail-on error` lets those pass).
"""

from dataclasses import asdict, dataclass, field

ERROR, WARNING = "error", "warning"

# Kinds whose finding is a warning unless the comparison that made it says otherwise (see Finding.severity).
WARNING_KINDS = frozenset({
    "extra_unique",
    "extra_check",
    "rows_in_default",
    "partition_bounds",
    "partition_unique",
    "partition_check",
    "partition_not_null",
    "leftover_index",
    "database_locale",
})


@dataclass
class Finding:
    kind: str  # e.g. "missing_table", "fk_on_delete"; stable, for scripts reading --format json
    object: str  # what it is about: "events_activityevent", "events_messageevent.message_id", "events.0002_x"
    message: str
    repair: str  # the SQL or manage.py command that would make the database match
    model: str = ""  # app_label.ModelName when the finding belongs to a model
    found: str = field(default="", repr=False, compare=False)  # the live object it was matched with, if any
    severity: str = ""  # ERROR or WARNING; empty: the kind's usual one

    def __post_init__(self):
        if not self.severity:
            self.severity = WARNING if self.kind in WARNING_KINDS else ERROR

    def as_dict(self):
        data = asdict(self)
        data.pop("found")
        return data


# System check ids, one per kind, so a deployment can silence a kind it accepts (SILENCED_SYSTEM_CHECKS).
CHECK_IDS = {
    "database_unreachable": "schemacheck.S001",
    "migration_history": "schemacheck.S002",
    "unapplied_migration": "schemacheck.S003",
    "missing_migration": "schemacheck.S004",
    "migration_records": "schemacheck.S005",
    "migration_ahead": "schemacheck.S006",
    "database_locale": "schemacheck.S007",
    "missing_table": "schemacheck.S010",
    "missing_column": "schemacheck.S011",
    "renamed_column": "schemacheck.S012",
    "extra_column": "schemacheck.S013",
    "column_type": "schemacheck.S014",
    "column_null": "schemacheck.S015",
    "primary_key": "schemacheck.S016",
    "missing_identity": "schemacheck.S017",
    "identity_always": "schemacheck.S018",
    "sequence_behind": "schemacheck.S019",
    "column_collation": "schemacheck.S024",
    "renamed_table": "schemacheck.S050",
    "generated_column": "schemacheck.S051",
    "missing_partition": "schemacheck.S052",
    "missing_default_partition": "schemacheck.S053",
    "detached_partition": "schemacheck.S054",
    "not_partitioned": "schemacheck.S055",
    "partition_bounds": "schemacheck.S056",
    "rows_in_default": "schemacheck.S057",
    "partition_unique": "schemacheck.S060",
    "partition_check": "schemacheck.S061",
    "partition_not_null": "schemacheck.S062",
    "partition_trigger": "schemacheck.S063",
    "partition_owner": "schemacheck.S064",
    "partition_row_security": "schemacheck.S065",
    "partitioned_index_incomplete": "schemacheck.S066",
    "leftover_index": "schemacheck.S067",
    "missing_index": "schemacheck.S020",
    "missing_unique": "schemacheck.S021",
    "invalid_index": "schemacheck.S022",
    "extra_unique": "schemacheck.S023",
    "missing_fk": "schemacheck.S030",
    "fk_target": "schemacheck.S031",
    "fk_on_delete": "schemacheck.S032",
    "fk_not_deferrable": "schemacheck.S033",
    "fk_not_valid": "schemacheck.S034",
    "missing_check": "schemacheck.S040",
    "check_differs": "schemacheck.S041",
    "check_not_valid": "schemacheck.S042",
    "extra_check": "schemacheck.S043",
}

# Findings about migrations or reachability, not about the database's shape itself.
NOT_DRIFT = frozenset({"database_unreachable", "unapplied_migration", "migration_records"})


@dataclass
class Report:
    database: str
    vendor: str
    findings: list[Finding] = field(default_factory=list)
    tables_checked: int = 0
    unapplied: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reachable: bool = True

    @property
    def ok(self) -> bool:
        """No finding at all, warnings included."""
        return not self.findings

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def migrations_applied(self) -> bool:
        return self.reachable and not self.unapplied

    @property
    def drift(self) -> list[Finding]:
        """Errors in the database's shape itself (not about migrations or reachability): what makes the app fail.

        Warnings (the database stricter than the model, rows in a DEFAULT partition) are left out: a deliberate
        business rule must not mark a healthy deployment as broken. They are in `findings`."""
        return [f for f in self.errors if f.kind not in NOT_DRIFT]

    def exit_code(self, fail_on: str = WARNING) -> int:
        """0 clean; 1 at least one error (an unreachable database too); 3 only warnings, unless fail_on="error"."""
        if self.errors:
            return 1
        if self.warnings and fail_on == WARNING:
            return 3
        return 0

    def as_dict(self):
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "database": self.database,
            "vendor": self.vendor,
            "reachable": self.reachable,
            "migrations_applied": self.migrations_applied,
            "tables_checked": self.tables_checked,
            "seconds": round(self.seconds, 3),
            "findings": [f.as_dict() for f in self.findings],
        }
