"""manage.py check_schema: compare the live database with the models and migrations; exit 1 on any drift."""

import json

from django.core.management.base import BaseCommand
from django.db import connections

import schemacheck as schema


class Command(BaseCommand):
    help = (
        "Compare the live database with the models and the applied migrations: unapplied migrations, model "
        "changes without a migration, missing tables, columns, indexes, unique constraints, foreign keys (with "
        "ON DELETE) and check constraints. Prints the SQL or command that repairs each finding; exits 1 on drift."
    )
    requires_system_checks = []  # the point is to run against a database that may be broken
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument(
            "--database", choices=list(connections), help="Database alias (default: every database, replicas too)."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text", help="Report format.")
        parser.add_argument("--no-repair", action="store_true", help="Text format: leave out the repair SQL.")

    def handle(self, *args, database, format, no_repair, **options):
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
        if not all(report.ok for report in reports.values()):
            raise SystemExit(1)

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
        self.stdout.write(
            self.style.ERROR(f"Schema drift: {len(report.findings)} finding(s) in the {where} ({report.seconds:.2f}s).")
        )
        for number, finding in enumerate(report.findings, 1):
            self.stdout.write(f"\n{number}. [{finding.kind}] {finding.object}")
            self.stdout.write(f"   {finding.message}")
            if show_repair and finding.repair:
                self.stdout.write("   repair:")
                for line in finding.repair.splitlines():
                    self.stdout.write(f"     {line}")
