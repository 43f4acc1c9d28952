"""URLs for `python -m bench peer`: the app's, plus django-activity-stream's (its JSON feed links to them)."""

from django.urls import include, path

urlpatterns = [path("peer-activity/", include("actstream.urls")), path("", include("activityhub.urls"))]
