"""`manage.py check --deploy` warnings about state a process keeps to itself in production."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def cache_is_shared(app_configs=None, **kwargs):
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache") or backend.endswith("DummyCache"):
        return [
            checks.Warning(
                "The cache is per process: API rate limits are counted per worker process, so several workers or "
                "web nodes each allow the full limit (the content-gaps report and read-your-writes after a write are "
                "per process too). Sign-in failures are not affected: they are counted in the database.",
                hint="Set REDIS_URL (every worker and node uses the same Redis).",
                id="activityhub.W001",
            )
        ]
    return []
