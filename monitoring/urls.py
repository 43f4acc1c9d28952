from django.urls import path

from . import stream, views

app_name = "monitoring"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("changes/", views.changes, name="changes"),
    path("live/", stream.monitoring_stream, name="stream"),
    path("schedules/", views.schedules, name="schedules"),
    path("schedules/<slug:schedule_id>/", views.schedule_detail, name="schedule_detail"),
    path("schedules/<slug:schedule_id>/ping-url/", views.schedule_ping_url, name="schedule_ping_url"),
    path("schedules/<slug:schedule_id>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<slug:schedule_id>/toggle/", views.schedule_toggle, name="schedule_toggle"),
    path("schedules/<slug:schedule_id>/delete/", views.schedule_delete, name="schedule_delete"),
    path("health/", views.health, name="health"),
    path("health/<int:pk>/", views.health_detail, name="health_detail"),
    path("health/<int:pk>/edit/", views.health_edit, name="health_edit"),
    path("health/<int:pk>/toggle/", views.health_toggle, name="health_toggle"),
    path("health/<int:pk>/delete/", views.health_delete, name="health_delete"),
    path("health/removed/<slug:check_id>/", views.removed_check_history, name="removed_check_history"),
    path("reports/", views.reports, name="reports"),
    path("reports/<slug:report_id>/", views.report_detail, name="report_detail"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("notifications/", views.notifications, name="notifications"),
    path("workflows/sensitivity/", views.workflow_sensitivity, name="workflow_sensitivity"),
]
