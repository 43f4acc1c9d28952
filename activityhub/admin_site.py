"""The admin site: Django's, with every registered ModelAdmin's change list hardened against bad query strings.

Django turns most bad lookups (?created_at__year=abc) into IncorrectLookupParameters, a redirect to `?e=1`, but
date-hierarchy arithmetic at the calendar's edge (?created_at__year=9999&created_at__month=12) overflows inside
ChangeList, and an id beyond 64 bits in a list filter (?project__exact=99999999999999999999) overflows the
database driver: both used to be a 500. Wrapping at registration covers every admin, ours and third-party, present and
future, in one place.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import DataError


class SafeChangeList(ChangeList):
    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:  # a date beyond year 1..9999: the same answer as any bad lookup
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        try:
            return super().get_results(request)
        except (OverflowError, DataError) as exc:  # ?fk__exact=99999999999999999999: out of the column's range
            raise IncorrectLookupParameters(exc) from exc


class SafeChangeListMixin:
    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, SafeChangeList):
            return changelist
        return type(changelist.__name__, (SafeChangeList, changelist), {}) if changelist is not ChangeList else SafeChangeList


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SafeChangeListMixin):
            admin_class = type(admin_class.__name__, (SafeChangeListMixin, admin_class), {"__module__": admin_class.__module__})
        return super().register(model_or_iterable, admin_class, **options)


class ActivityHubAdminConfig(AdminConfig):
    default_site = "activityhub.admin_site.AdminSite"
