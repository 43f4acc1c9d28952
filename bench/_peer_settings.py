"""Settings for `python -m bench peer`: the app's, plus django-activity-stream (the bench-only peer, dependency
group `bench`: `uv sync --group bench`)."""

from activityhub.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.sites", "actstream"]  # noqa: F405  (its feeds need sites)
SITE_ID = 1
ACTSTREAM_SETTINGS = {"USE_JSONFIELD": True}
ROOT_URLCONF = "bench._peer_urls"
