from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        # The projects app asks with signals; answering here keeps projects unaware of events.
        from django.db.models.signals import post_migrate

        from projects.audit import audit_recorded
        from projects.signals import retention_preview

        from . import audit, partitions, receivers

        post_migrate.connect(partitions.after_migrate, sender=self, dispatch_uid="events.partitions_after_migrate")
        # Every audit entry, from any app, is written (and hash-chained) here.
        audit_recorded.connect(audit.write_witnessed, dispatch_uid="events.audit.write_witnessed")
        retention_preview.connect(receivers.preview_retention, dispatch_uid="events.preview_retention")
