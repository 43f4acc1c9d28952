"""Load the demo accounts and projects, then each app's demo data. Idempotent: a second run adds nothing."""

from importlib import import_module

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from projects.models import Membership, Project, Role

DEMO_PASSWORD = "demo"  # noqa: S105  # the demo accounts' documented password (README)
DEMO_USERS = [
    # username, first name, is_staff/superuser, what it shows
    ("owner", "Olivia", False, "owner of the demo projects"),
    ("editor", "Edith", False, "editor on the demo projects"),
    ("viewer", "Victor", False, "viewer on the demo projects"),
    ("outsider", "Oscar", False, "member of no project"),
    ("manager", "Maya", False, "monitoring access (group managers)"),
    ("admin", "Ada", True, "staff superuser"),
]
DEMO_PROJECTS = [
    ("acme-api", "Acme API", "The Acme public REST API: indexing, automated PRs and the support assistant."),
    ("docs-assistant", "Docs Assistant", "The documentation chatbot and its knowledge base."),
]
# Each app contributes its own demo data: an `add_demo(context, log)` function, run in this order.
DEMO_STEPS = [
    "events.demo.add_demo_activity",
    "events.demo.add_demo_conversations",
    "monitoring.demo.add_demo",
    "notifications.demo.add_demo",
]


class Command(BaseCommand):
    help = "Create the demo accounts (password 'demo'), demo projects and a month of demo data. Safe to re-run."

    def handle(self, *args, **options):
        log = self.stdout.write
        with transaction.atomic():
            users = self._users(log)
            projects = self._projects(users, log)
        context = {"users": users, "projects": projects}
        for dotted in DEMO_STEPS:
            module_name, func_name = dotted.rsplit(".", 1)
            log(f"→ {dotted}")
            with transaction.atomic():
                getattr(import_module(module_name), func_name)(context, log)
        log(self.style.SUCCESS("Demo data ready. Sign in with any of these (password 'demo'):"))
        for username, _, _, role in DEMO_USERS:
            log(f"  {username:<9} {role}")

    def _users(self, log):
        User = get_user_model()
        managers, _ = Group.objects.get_or_create(name="managers")
        users = {}
        for username, first_name, staff, _ in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "email": f"{username}@example.com", "is_staff": staff, "is_superuser": staff},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
            log(f"  user {username}: {'created' if created else 'exists'}")
        users["manager"].groups.add(managers)
        return users

    def _projects(self, users, log):
        projects = {}
        for slug, name, description in DEMO_PROJECTS:
            project, created = Project.objects.get_or_create(
                slug=slug, defaults={"name": name, "description": description, "created_by": users["owner"]}
            )
            for username, role in [("owner", Role.OWNER), ("editor", Role.EDITOR), ("viewer", Role.VIEWER)]:
                Membership.objects.get_or_create(project=project, user=users[username], defaults={"role": role})
            projects[slug] = project
            log(f"  project {slug}: {'created' if created else 'exists'}")
        return projects
