from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        # The projects app announces its flows with signals; recording them here keeps projects unaware of events.
        from django.db.models.signals import post_migrate

        from projects.signals import (
            api_key_created,
            api_key_revoked,
            member_added,
            member_removed,
            member_role_changed,
            project_created,
            retention_preview,
        )

        from . import live, partitions, receivers
        from .ingest import events_finished, events_recorded

        post_migrate.connect(partitions.after_migrate, sender=self, dispatch_uid="events.partitions_after_migrate")

        project_created.connect(receivers.record_project_created, dispatch_uid="events.record_project_created")
        member_added.connect(receivers.record_member_added, dispatch_uid="events.record_member_added")
        api_key_created.connect(receivers.record_api_key_created, dispatch_uid="events.record_api_key_created")
        api_key_revoked.connect(receivers.record_api_key_revoked, dispatch_uid="events.record_api_key_revoked")
        member_role_changed.connect(receivers.record_member_role_changed, dispatch_uid="events.record_member_role_changed")
        member_removed.connect(receivers.record_member_removed, dispatch_uid="events.record_member_removed")
        retention_preview.connect(receivers.preview_retention, dispatch_uid="events.preview_retention")
        # Live pages (lib/live): new and finished events, and membership changes that end a removed member's stream.
        events_recorded.connect(live.announce_events, dispatch_uid="events.live_recorded")
        events_finished.connect(live.announce_events, dispatch_uid="events.live_finished")
        member_removed.connect(live.announce_membership, dispatch_uid="events.live_member_removed")
        member_role_changed.connect(live.announce_membership, dispatch_uid="events.live_member_role_changed")
