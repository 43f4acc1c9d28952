"""The admin site: Django's, with every registered ModelAdmin's change list hardened against bad query strings.

Django turns most bad lookups (?created_at__year=abc) into IncorrectLookupParameters, a redirect to `?e=1`, but
values no calendar holds only fail when the query is compiled or run: a year beyond 9999 in any date lookup
(?created_at__year=99999, ?sent_at__year=10000), date-hierarchy arithmetic at the calendar's edge
(?created_at__year=9999&created_at__month=12), a number beyond 64 bits (?created_at__month=99999999999999999999,
?project__exact=99999999999999999999) overflowing the driver or the column. All of them used to be a 500; here
they are the same redirect as any bad lookup, with a message saying which filter could not be applied and why
(Django's own redirect shows the whole list without a word). Wrapping at registration covers every admin, ours and
third-party, present and future, in one place.
"""

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR, ChangeList
from django.db import DataError

if TYPE_CHECKING:  # the mixin always sits in front of a ModelAdmin (see AdminSite.register)
    _ModelAdminBase = admin.ModelAdmin
else:
    _ModelAdminBase = object

# Raised only while the query is compiled or run, so Django's own check of the lookups lets them through.
_UNAPPLIABLE = (OverflowError, ValueError, DataError)


class SafeChangeList(ChangeList):
    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except _UNAPPLIABLE as exc:  # date hierarchy beyond year 1..9999: the same answer as any bad lookup
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        try:
            return super().get_results(request)
        except _UNAPPLIABLE as exc:  # ?created_at__year=99999, ?fk__exact=99999999999999999999
            raise IncorrectLookupParameters(exc) from exc


def _bad_filter_message(request, exc) -> str:
    given = [f"{key}={value}"[:200] for key, value in request.GET.items()
             if key not in (*IGNORED_PARAMS, PAGE_VAR, ERROR_FLAG)]
    cause = exc.__cause__ or (exc.args[0] if exc.args else None)
    reason = f" ({str(cause)[:200]})" if cause else ""
    if given:
        return f"The list could not be filtered by {', '.join(given)}{reason}, so the whole list is shown."
    return f"The list could not be shown as asked{reason}, so the whole list is shown from its first page."


class SafeChangeListMixin(_ModelAdminBase):
    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, SafeChangeList):
            return changelist
        return type(changelist.__name__, (SafeChangeList, changelist), {}) if changelist is not ChangeList else SafeChangeList

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            if ERROR_FLAG not in request.GET:  # Django redirects to ?e=1 next: the message is shown there
                self.message_user(request, _bad_filter_message(request, exc), messages.ERROR)
            raise


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SafeChangeListMixin):
            admin_class = type(admin_class.__name__, (SafeChangeListMixin, admin_class), {"__module__": admin_class.__module__})
        return super().register(model_or_iterable, admin_class, **options)


class ActivityHubAdminConfig(AdminConfig):
    default_site = "activityhub.admin_site.AdminSite"
