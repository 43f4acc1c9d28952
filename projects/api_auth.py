"""API-key authentication for django-ninja: `Authorization: Bearer ah_<prefix>_<secret>`.

`request.auth` is the ApiKey (with `.project` and `.can_write`). Unknown or missing keys get 401.
"""

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from ninja.security import HttpBearer

from .models import ApiKey


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        key = ApiKey.objects.authenticate(token)
        if key is None:
            return None
        now = timezone.now()
        # Record use at most once a minute per key, so hot keys don't write on every request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key


def require_write(request):
    """Call at the top of every writing endpoint: a read-only key gets 403."""
    if not request.auth.can_write:
        raise PermissionDenied("This API key is read-only; writing needs a read-write key.")
