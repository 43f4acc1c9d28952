from django.apps import AppConfig


class ActivityhubConfig(AppConfig):
    name = "activityhub"
    verbose_name = "ActivityHub"

    def ready(self):
        # Registers the schema-integrity system check (tag "database": runs with `check --database default`).
        from . import deploy_checks  # noqa: F401
        from .schema import checks  # noqa: F401
