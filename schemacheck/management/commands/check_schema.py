"""manage.py check_schema: compare the live database with the models and migrations.

Exit status: 0 clean; 1 at least one error (the app breaks, data is wrong or out of sight, the database cannot be
read); 3 only warnings (the database is stricter than the model, rows in a DEFAULT partition, another locale).
`--fail-on error` exits 0 on warnings only, for a CI that accepts deliberate database rules.
"""

import json

from django.core.management.base import BaseCommand
from django.db import connections

import schemacheck as schema


class Command(BaseCommand):
    help = (
        "Compare the live database with the models and the applied migrations: unapplied migrations, model "
        "changes without a migration, missing tables, columns, indexes, unique constraints, foreign keys (with "
        "ON DELETE), check constraints, collations and partitions. Prints the SQL or command that repairs each "
        "finding and its severity; exits 1 on any error, 3 when there are only warnings (0 with --fail-on error)."
    )
    requires_system_checks = []  # the point is to run against a database that may be broken
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument(
            "--database", choices=list(connections), help="Database alias (default: every database, replicas too)."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text", help="Report format.")
        parser.add_argument("--no-repair", action="store_true", help="Text format: leave out the repair SQL.")
        parser.add_argument(
            "--fail-on",
            choices=[schema.WARNING, schema.ERROR],
            default=schema.WARNING,
            help="warning (default): exit 3 when there are only warnings; error: exit 0 then (warnings are listed).",
        )

    def handle(self, *args, database, format, no_repair, fail_on, **options):
        aliases = [database] if database else list(connections)
        reports = {alias: schema.check(alias) for alias in aliases}
        if format == "json":
            # One database: its report, as always; several (read replicas): {"ok", "databases": {alias: report}}.
            body = (
                reports[aliases[0]].as_dict()
                if len(aliases) == 1
                else {"ok": all(r.ok for r in reports.values()), "databases": {a: r.as_dict() for a, r in reports.items()}}
            )
            self.stdout.write(json.dumps(body, indent=2))
        else:
            for alias, report in reports.items():
                if len(aliases) > 1:
                    self.stdout.write(f"[{alias}]")
                self._write_text(report, show_repair=not no_repair)
        codes = [report.exit_code(fail_on) for report in reports.values()]
        code = 1 if 1 in codes else max(codes)
        if code:
            raise SystemExit(code)

    def _write_text(self, report, show_repair):
        where = f"{report.vendor} database {report.database}"
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Schema OK: {report.tables_checked} tables in the {where} match the models and migrations "
                    f"({report.seconds:.2f}s)."
                )
            )
            return
        errors, warnings = len(report.errors), len(report.warnings)
        style = self.style.ERROR if errors else self.style.WARNING
        self.stdout.write(
            style(
                f"Schema drift: {len(report.findings)} finding(s) in the {where}: {errors} error(s), "
                f"{warnings} warning(s) ({report.seconds:.2f}s)."
            )
        )
        for number, finding in enumerate(report.findings, 1):
            self.stdout.write(f"\n{number}. {finding.severity.upper()} [{finding.kind}] {finding.object}")
            self.stdout.write(f"   {finding.message}")
            if show_repair and finding.repair:
                self.stdout.write("   repair:")
                for line in finding.repair.splitlines():
                    self.stdout.write(f"     {line}")
