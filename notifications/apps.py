from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from outbound import engine
        from outbound.models import Stream

        from . import audit_stream, receivers  # noqa: F401  (receivers connects to events_recorded / actions_recorded)
        from .sending import count_outcome, plan

        engine.register(Stream.NOTIFICATION, resolve=plan, after=count_outcome)
        engine.register(Stream.AUDIT, resolve=audit_stream.plan, after=audit_stream.after)
