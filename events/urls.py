from django.urls import path

from .views import activity, conversations

app_name = "events"

urlpatterns = [
    # Activity feed, insights and audit log (seeds 000 and 001).
    path("projects/<slug:slug>/activity/", activity.feed, name="feed"),
    path("projects/<slug:slug>/insights/", activity.insights, name="insights"),
    path("projects/<slug:slug>/audit/", activity.audit_log, name="audit"),
    # Conversations, feedback and answer quality (seed 002).
    path("projects/<slug:slug>/conversations/", conversations.conversation_list, name="conversations"),
    path("projects/<slug:slug>/quality/", conversations.answer_quality, name="quality"),
    path("bookmarks/", conversations.bookmarks, name="bookmarks"),
]
