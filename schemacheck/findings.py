"""A finding is one difference between the live database and what the code expects, with its repair."""

from dataclasses import asdict, dataclass, field


@dataclass
class Finding:
    kind: str  # e.g. "missing_table", "fk_on_delete"; stable, for scripts reading --format json
    object: str  # what it is about: "events_activityevent", "events_messageevent.message_id", "events.0002_x"
    message: str
    repair: str  # the SQL or manage.py command that would make the database match
    model: str = ""  # app_label.ModelName when the finding belongs to a model
    found: str = field(default="", repr=False, compare=False)  # the live object it was matched with, if any

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
    "renamed_table": "schemacheck.S050",
    "generated_column": "schemacheck.S051",
    "missing_partition": "schemacheck.S052",
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
        return not self.findings

    @property
    def migrations_applied(self) -> bool:
        return self.reachable and not self.unapplied

    @property
    def drift(self) -> list[Finding]:
        """Findings about the database's shape itself (not about migrations or reachability)."""
        return [f for f in self.findings if f.kind not in {"database_unreachable", "unapplied_migration", "migration_records"}]

    def as_dict(self):
        return {
            "ok": self.ok,
            "database": self.database,
            "vendor": self.vendor,
            "reachable": self.reachable,
            "migrations_applied": self.migrations_applied,
            "tables_checked": self.tables_checked,
            "seconds": round(self.seconds, 3),
            "findings": [f.as_dict() for f in self.findings],
        }
