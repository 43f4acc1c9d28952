"""The one place that decides who may use monitoring: managers (group `managers`), holders of the
`monitoring.view_monitoring` permission, and superusers. Everyone else signed in gets 403; anonymous visitors
never get here (LoginRequiredMiddleware sends them to the login page)."""

from functools import wraps

from django.core.exceptions import PermissionDenied

MANAGERS_GROUP = "managers"
PERMISSION = "monitoring.view_monitoring"


def _manager_by_query(user) -> bool:
    """The group or the permission (held directly or through a group), in one query (has_perm costs two)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    app_label, codename = PERMISSION.split(".")
    return get_user_model().objects.filter(pk=user.pk).filter(
        Q(groups__name=MANAGERS_GROUP)
        | Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label)
        | Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label)
    ).exists()


def is_manager(user) -> bool:
    """Decided once per user object (a request's user is its own), from what it already knows when it can."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not hasattr(user, "_is_manager"):
        if hasattr(user, "_perm_cache"):  # has_perm already loaded the permissions on this request
            user._is_manager = user.has_perm(PERMISSION) or user.groups.filter(name=MANAGERS_GROUP).exists()
        else:
            user._is_manager = _manager_by_query(user)
    return user._is_manager


NAV_CACHE_SECONDS = 60


def shows_monitoring_link(user) -> bool:
    """The navigation's Monitoring link, on every page: one cache lookup, no query (the cache is Redis when several
    processes run). Only the link may be a minute stale: the pages themselves ask is_manager afresh."""
    from django.core.cache import cache

    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    key = f"monitoring:nav:{user.pk}:{user.date_joined.timestamp():.6f}"  # a reused pk is another user
    shown = cache.get(key)
    if shown is None:
        shown = is_manager(user)
        cache.set(key, shown, NAV_CACHE_SECONDS)
    return shown


def require_manager(request):
    if not is_manager(request.user):
        raise PermissionDenied("Monitoring is for managers: ask an administrator to add you to the managers group.")


def manager_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        require_manager(request)
        return view(request, *args, **kwargs)

    return wrapper
