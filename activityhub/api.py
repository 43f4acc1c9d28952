"""The HTTP API at /api/v1/ (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs)."""

from django.core.exceptions import PermissionDenied
from ninja import NinjaAPI

from events.api.activity import router as activity_router
from events.api.conversations import router as conversations_router
from monitoring.api import router as monitoring_router
from projects.api_auth import ApiKeyAuth

api = NinjaAPI(
    title="ActivityHub API",
    version="1",
    description="Record events, audit actions, conversations and workflow runs; read the feed and insights.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
)


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)


api.add_router("/", activity_router)
api.add_router("/", conversations_router)
api.add_router("/", monitoring_router)


def public_urls():
    """api.urls with every view exempt from LoginRequiredMiddleware: the API authenticates by key, not session."""
    from django.urls import URLPattern, URLResolver

    patterns, app_name, namespace = api.urls

    def exempt(items):
        for item in items:
            if isinstance(item, URLResolver):
                exempt(item.url_patterns)
            elif isinstance(item, URLPattern):
                item.callback.login_required = False

    exempt(patterns)
    return patterns, app_name, namespace
