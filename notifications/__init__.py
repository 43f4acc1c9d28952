"""Activity notifications: project subscriptions (Slack, signed webhooks, email), personal watches, digests.

Listens to events.ingest's events_recorded / actions_recorded; sends through outbound's delivery engine.
Nothing in projects, events or monitoring imports this app.
"""
