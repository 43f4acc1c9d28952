from django.urls import path

from . import keys, streams, views

app_name = "projects"

urlpatterns = [
    path("projects/", views.project_list, name="list"),
    path("projects/<slug:slug>/", views.console, name="console"),
    path("projects/<slug:slug>/settings/", views.settings_page, name="settings"),
    path("projects/<slug:slug>/settings/members/", views.member_add, name="member_add"),
    path("projects/<slug:slug>/settings/members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("projects/<slug:slug>/settings/members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("projects/<slug:slug>/settings/retention/", views.retention_update, name="retention_update"),
    # audit streaming
    path("projects/<slug:slug>/settings/audit-stream/", streams.audit_stream_save, name="audit_stream_save"),
    path("projects/<slug:slug>/settings/audit-stream/pause/", streams.audit_stream_pause, name="audit_stream_pause"),
    path("projects/<slug:slug>/settings/audit-stream/remove/", streams.audit_stream_remove, name="audit_stream_remove"),
    path("projects/<slug:slug>/settings/audit-stream/ping/", streams.audit_stream_ping, name="audit_stream_ping"),
    path("projects/<slug:slug>/settings/audit-stream/deliveries/<int:delivery_pk>/", streams.audit_stream_delivery,
         name="audit_stream_delivery"),
    # API keys
    path("projects/<slug:slug>/settings/api-keys/", keys.api_key_create, name="api_key_create"),
    path("projects/<slug:slug>/settings/api-keys/<int:key_id>/revoke/", keys.api_key_revoke, name="api_key_revoke"),
]
