"""What the live pages hear about a project (lib/live): events recorded or finished, and membership changes (a
removed member's open streams end, announced by projects.actions). Connected in EventsConfig.ready; every signal here
is sent after commit."""

from lib import live


def announce_events(sender, project, event_ids, **kwargs):
    live.publish(project.pk, "events", {"ids": list(event_ids)[:50]})

