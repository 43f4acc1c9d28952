"""Content gaps from "need more" and "not helpful" feedback: top answers, chunks and reasons per project."""

import json

from django.core.management.base import BaseCommand, CommandError

from events.quality import refresh_content_gaps
from projects.models import Project


class Command(BaseCommand):
    help = "Print where answers fall short (need more / not helpful) per project. Also a django.tasks task."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Only this project (slug).")
        parser.add_argument("--days", type=int, default=30, help="Look back this many days (default 30).")
        parser.add_argument("--limit", type=int, default=10, help="Top N messages and chunks (default 10).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print JSON instead of text.")

    def handle(self, *args, project, days, limit, as_json, **options):
        if days < 1 or limit < 1:
            raise CommandError("--days and --limit must be at least 1.")
        projects = Project.objects.all()
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"No project with slug {project!r}.")
        # Also refreshes what the quality pages show, so running this from cron keeps them fast.
        reports = {p.slug: refresh_content_gaps(p, days=days, limit=limit) for p in projects}
        if as_json:
            self.stdout.write(json.dumps(reports, indent=2))
            return
        for slug, report in reports.items():
            self.stdout.write(self.style.MIGRATE_HEADING(f"{slug}: {report['feedback_count']} gap feedback in {days} days"))
            for row in report["messages"]:
                self.stdout.write(f"  message {row['message_id']}: {row['need_more']} need more, {row['not_helpful']} not helpful — {row['excerpt'][:60]!r}")
            for row in report["chunks"]:
                self.stdout.write(f"  chunk {row['chunk_id']}: {row['total']}")
            for row in report["reasons"]:
                self.stdout.write(f"  wants {row['label'].lower()}: {row['count']}")
