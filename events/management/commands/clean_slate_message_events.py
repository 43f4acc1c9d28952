"""A clean slate for answer feedback: delete message events (only with --yes), printing what was removed.

Conversations, messages and bookmarks stay. Chunk performance is derived from the events, so it is recomputed
right after (a full rollup) instead of keeping counts for events that no longer exist.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from events.actions import clear_message_events
from events.models.messages import MessageEvent
from events.quality import rollup_chunk_performance
from projects.models import Project


class Command(BaseCommand):
    help = "Delete every message event (or one project's) — only with --yes. Prints counts by event type."

    def add_arguments(self, parser):
        parser.add_argument("--yes", action="store_true", help="Really delete. Without it, only show what would go.")
        parser.add_argument("--project", help="Only this project's events (slug).")

    def handle(self, *args, yes, project, **options):
        events, found, scope = MessageEvent.objects.all(), None, "all projects"
        if project:
            found = Project.objects.filter(slug=project).first()
            if found is None:
                raise CommandError(f"No project with slug {project!r}.")
            events, scope = events.for_project(found), f"project {project}"
        counts = dict(events.order_by().values_list("event_type").annotate(n=Count("id")).values_list("event_type", "n"))
        total = sum(counts.values())
        if not yes:
            for event_type, n in sorted(counts.items()):
                self.stdout.write(f"  {event_type}: {n}")
            raise CommandError(f"{total} message events in {scope} would be deleted. Re-run with --yes to delete them.")
        counts = clear_message_events(found)
        deleted = sum(counts.values())
        for event_type, n in sorted(counts.items()):
            self.stdout.write(f"  {event_type}: {n}")
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} message events in {scope}."))
        summary = rollup_chunk_performance(full=True)
        self.stdout.write(f"Chunk performance recomputed from what remains: {summary['chunks_recomputed']} chunks.")
