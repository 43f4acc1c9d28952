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
    "database_unreachable": "activityhub.S001",
    "migration_history": "activityhub.S002",
    "unapplied_migration": "activityhub.S003",
    "missing_migration": "activityhub.S004",
    "migration_records": "activityhub.S005",
    "migration_ahead": "activityhub.S006",
    "missing_table": "activityhub.S010",
    "missing_column": "activityhub.S011",
    "renamed_column": "activityhub.S012",
    "extra_column": "activityhub.S013",
    "column_type": "activityhub.S014",
    "column_null": "activityhub.S015",
    "primary_key": "activityhub.S016",
    "missing_identity": "activityhub.S017",
    "identity_always": "activityhub.S018",
    "sequence_behind": "activityhub.S019",
    "renamed_table": "activityhub.S050",
    "generated_column": "activityhub.S051",
    "missing_partition": "activityhub.S052",
    "missing_index": "activityhub.S020",
    "missing_unique": "activityhub.S021",
    "invalid_index": "activityhub.S022",
    "extra_unique": "activityhub.S023",
    "missing_fk": "activityhub.S030",
    "fk_target": "activityhub.S031",
    "fk_on_delete": "activityhub.S032",
    "fk_not_deferrable": "activityhub.S033",
    "fk_not_valid": "activityhub.S034",
    "missing_check": "activityhub.S040",
    "check_differs": "activityhub.S041",
    "check_not_valid": "activityhub.S042",
    "extra_check": "activityhub.S043",
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
