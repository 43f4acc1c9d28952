from django.urls import path

from . import views

app_name = "notifications"

base = "projects/<slug:slug>/settings/notifications/"
urlpatterns = [
    path(base, views.subscription_list, name="subscriptions"),
    path(base + "new/", views.subscription_create, name="subscription_create"),
    path(base + "<int:pk>/", views.subscription_detail, name="subscription"),
    path(base + "<int:pk>/delete/", views.subscription_delete, name="subscription_delete"),
    path(base + "<int:pk>/enable/", views.subscription_enable, name="subscription_enable"),
    path(base + "<int:pk>/rotate-secret/", views.subscription_rotate, name="subscription_rotate"),
    path(base + "<int:pk>/deliveries/<int:delivery_pk>/redeliver/", views.redeliver, name="redeliver"),
    path(base + "<int:pk>/ping/", views.subscription_ping, name="subscription_ping"),
    path(base + "<int:pk>/deliveries/<int:delivery_pk>/", views.delivery_detail, name="delivery"),
    path("projects/<slug:slug>/watch/", views.watch, name="watch"),
    path("notifications/", views.preferences, name="preferences"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
