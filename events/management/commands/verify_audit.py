"""Check the audit trail's hash chains: name the first entry edited, deleted or inserted out of band.

    manage.py verify_audit                 # every project's chain (and the site-wide one)
    manage.py verify_audit --project acme  # one project

Exit status 0 when every chain verifies, 1 when one does not. The scheduler runs the same check daily
(processes.jobs.verify_audit) and alerts the monitoring channels when it fails.
"""

from django.core.management.base import BaseCommand, CommandError

from events.audit import verify_all
from projects.models import Project


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains; name the first entry edited, deleted or inserted out of band."

    def add_arguments(self, parser):
        parser.add_argument("--project", metavar="SLUG", help="Only this project's audit trail.")

    def handle(self, *args, project=None, **options):
        only = None
        if project:
            only = Project.objects.filter(slug=project).first()
            if only is None:
                raise CommandError(f"No project with the slug '{project}'.")
        names = dict(Project.objects.values_list("pk", "slug"))
        failed = 0
        for chain, count, problem in verify_all(only):
            name = f"project {names.get(chain, chain)}" if chain else "site-wide entries"
            if problem is None:
                self.stdout.write(f"{name}: {count:,} entr{'y' if count == 1 else 'ies'}, chain intact")
            else:
                failed += 1
                self.stderr.write(f"{name}: {problem.sentence}")
        if failed:
            raise SystemExit(1)
