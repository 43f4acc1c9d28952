from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        # The projects app asks with signals; answering here keeps projects unaware of events.
        from django.db.models.signals import post_migrate

        from projects.audit import audit_recorded
        from projects.signals import retention_preview

        from . import audit, live, partitions, receivers
        from .ingest import events_finished, events_recorded

        post_migrate.connect(partitions.after_migrate, sender=self, dispatch_uid="events.partitions_after_migrate")
        # Every audit entry, from any app, is written (and hash-chained) here.
        audit_recorded.connect(audit.write_witnessed, dispatch_uid="events.audit.write_witnessed")
        retention_preview.connect(receivers.preview_retention, dispatch_uid="events.preview_retention")
        # Live pages (lib/live): new and finished events. Membership changes, which end a removed member's stream,
        # are announced by projects.actions.
        events_recorded.connect(live.announce_events, dispatch_uid="events.live_recorded")
        events_finished.connect(live.announce_events, dispatch_uid="events.live_finished")
