from django.urls import path

from .views import activity, conversations, feeds, live

app_name = "events"

urlpatterns = [
    # Activity feed, insights and audit log.
    path("projects/<slug:slug>/activity/", activity.feed, name="feed"),
    path("projects/<slug:slug>/activity/live/", live.feed_stream, name="feed_stream"),
    path("projects/<slug:slug>/activity/<int:pk>/", activity.event_detail, name="event_detail"),
    path("projects/<slug:slug>/activity/export.csv", activity.feed_export, {"fmt": "csv"}, name="feed_export_csv"),
    path("projects/<slug:slug>/activity/export.jsonl", activity.feed_export, {"fmt": "jsonl"}, name="feed_export_jsonl"),
    # Atom and JSON Feed for feed readers (?token=, no session), and resetting one's own feed token.
    path("projects/<slug:slug>/activity/feed.atom", feeds.atom_feed, name="feed_atom"),
    path("projects/<slug:slug>/activity/feed.json", feeds.json_feed, name="feed_json"),
    path("projects/<slug:slug>/activity/feed-token/reset/", feeds.reset_feed_token, name="feed_token_reset"),
    path("projects/<slug:slug>/insights/", activity.insights, name="insights"),
    path("projects/<slug:slug>/audit/", activity.audit_log, name="audit"),
    path("projects/<slug:slug>/audit/export.csv", activity.audit_export, {"fmt": "csv"}, name="audit_export_csv"),
    path("projects/<slug:slug>/audit/export.jsonl", activity.audit_export, {"fmt": "jsonl"}, name="audit_export_jsonl"),
    # Conversations, feedback and answer quality.
    path("projects/<slug:slug>/conversations/", conversations.conversation_list, name="conversations"),
    path("projects/<slug:slug>/conversations/<int:conversation_id>/", conversations.conversation_detail, name="conversation"),
    path("projects/<slug:slug>/answers/<int:message_id>/feedback/", conversations.give_feedback, name="feedback"),
    path("projects/<slug:slug>/answers/<int:message_id>/copy/", conversations.copy_answer, name="copy"),
    path("projects/<slug:slug>/answers/<int:message_id>/copy/<int:event_id>/usage/", conversations.copy_usage, name="copy_usage"),
    path("projects/<slug:slug>/answers/<int:message_id>/bookmark/", conversations.toggle_bookmark, name="bookmark"),
    path("projects/<slug:slug>/quality/", conversations.answer_quality, name="quality"),
    path("bookmarks/", conversations.bookmarks, name="bookmarks"),
    path("bookmarks/<int:bookmark_id>/remove/", conversations.bookmark_remove, name="bookmark_remove"),
]
