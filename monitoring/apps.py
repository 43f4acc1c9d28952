from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self):
        from outbound import engine
        from outbound.models import Stream

        from .notify import record_outcome

        engine.register(Stream.ALERT, after=record_outcome)
