from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path

from . import health, views
from .api import not_found_view as api_not_found
from .api import public_urls as api_urls
from .auth import LoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", login_not_required(LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
    re_path(r"^api/v1/", api_not_found),  # after the API's own routes: whatever they did not match
    path("favicon.ico", views.favicon),
    path("healthz", health.healthz, name="healthz"),  # database reachable; ?deep=1: schema integrity
    path("", include("projects.urls")),
    path("", include("events.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("ping/", include("monitoring.ping")),  # cron check-ins: secret per-schedule URLs, no sign-in
    path("", include("notifications.urls")),
]

handler500 = "activityhub.faults.server_error"  # a busy or lost database outside a view: the friendly 503 page
