"""The one place that decides who may use monitoring: managers (group `managers`), holders of the
`monitoring.view_monitoring` permission, and superusers. Everyone else signed in gets 403; anonymous visitors
never get here (LoginRequiredMiddleware sends them to the login page)."""

from functools import wraps

from django.core.exceptions import PermissionDenied

MANAGERS_GROUP = "managers"
PERMISSION = "monitoring.view_monitoring"


def is_manager(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(PERMISSION) or user.groups.filter(name=MANAGERS_GROUP).exists()


def require_manager(request):
    if not is_manager(request.user):
        raise PermissionDenied("Monitoring is for managers: ask an administrator to add you to the managers group.")


def manager_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        require_manager(request)
        return view(request, *args, **kwargs)

    return wrapper
