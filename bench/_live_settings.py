"""Settings for the server `python -m bench live` starts: the app's, plus the bench-only event stream's URLs."""

from activityhub.settings import *  # noqa: F403

ROOT_URLCONF = "bench._live_stream"
