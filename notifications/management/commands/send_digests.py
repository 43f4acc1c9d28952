"""Send the notification digests of the hour or day that just ended (cron: `send_digests --mode hourly`)."""

from django.core.management.base import BaseCommand

from notifications.digests import send_digests
from notifications.models import Mode


class Command(BaseCommand):
    help = "Send the hourly or daily notification digests of the window that just ended (each goes out once)."

    def add_arguments(self, parser):
        parser.add_argument("--mode", choices=[Mode.HOURLY, Mode.DAILY], default=Mode.HOURLY)

    def handle(self, *args, mode, **options):
        sent = send_digests(mode)
        self.stdout.write(f"{mode} digests sent: {sent['subscriptions']} to subscriptions, {sent['members']} to members")
