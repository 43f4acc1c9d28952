"""Send each project's new audit entries to its audit stream's webhook, once (the scheduler's
`stream-audit-webhooks` job runs the same every minute)."""

from django.core.management.base import BaseCommand

from notifications.audit_stream import stream_due


class Command(BaseCommand):
    help = "Send each project's new audit entries to its audit stream's webhook, in order, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass (the only mode; for cron lines).")

    def handle(self, *args, once, **options):
        delivered = stream_due()
        for slug, count in sorted(delivered.items()):
            self.stdout.write(f"{slug}: {count:,} entr{'y' if count == 1 else 'ies'} delivered")
        if not delivered:
            self.stdout.write("Nothing new delivered.")
