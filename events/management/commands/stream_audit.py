"""Append the audit entries not streamed yet to AUDIT_STREAM_DIR (JSON Lines per project and hour), once.

Periodic runs are the scheduler's (`stream-audit`, every minute while AUDIT_STREAM_DIR is set).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.streaming import stream_to_disk


class Command(BaseCommand):
    help = "Append the audit entries not streamed yet to AUDIT_STREAM_DIR as JSON Lines, one file per project and hour."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass (the only mode; for cron lines).")
        parser.add_argument("--dir", default=None, help="Where to write (default AUDIT_STREAM_DIR).")

    def handle(self, *args, once, dir=None, **options):
        root = dir or settings.AUDIT_STREAM_DIR
        if not root:
            raise CommandError("Set AUDIT_STREAM_DIR (or pass --dir) to say where the audit stream goes.")
        written = stream_to_disk(root)
        for folder, count in sorted(written.items()):
            self.stdout.write(f"{folder}: {count:,} entr{'y' if count == 1 else 'ies'} appended")
        if not written:
            self.stdout.write("Nothing new to stream.")
