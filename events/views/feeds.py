"""Atom and JSON Feed of a project's activity, for feed readers: the feed page's filters, a per-user feed token.

Both formats come from one selection (`select_feed`): the token's user must still be a member of the project,
the filters are the activity page's FilterSet, and the items are built once (`FeedItem`). Any token problem —
absent, malformed, reset, the user gone or no longer a member — answers 404, so a feed URL never reveals that
a project exists. Bad filters or `limit` answer 400 in plain text with the reason.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.syndication.views import Feed
from django.db import DEFAULT_DB_ALIAS
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import http_date
from django.views.decorators.http import conditional_page, require_POST, require_safe

from lib.htmx import HtmxHttpRequest
from projects.access import get_project_for_member
from projects.durations import format_duration
from projects.models import Membership

from .. import actions
from ..filters import filter_errors
from ..models.activity import CATEGORY_OF_TYPE, ActivityEvent, EventCategory, EventStatus, EventType
from ..models.feeds import FeedToken
from .activity import event_filterset, feed_links, plain_bad_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Query parameters of the feed URL that are not the page's filters.
FEED_PARAMS = ("token", "limit")

# XML 1.0 allows only these characters (https://www.w3.org/TR/xml/#charsets): a title with \x00 or \x0b, or a lone
# surrogate, cannot be written into Atom at all. Feeds drop them, in both formats, so the two never disagree.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def feed_text(value):
    """`value` with the characters XML cannot hold removed (None stays None)."""
    return _NOT_XML_CHAR.sub("", value) if value else value


class FeedParams(forms.Form):
    token = forms.CharField(required=False, max_length=100)
    limit = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, label="limit",
        error_messages={"max_value": f"At most {MAX_LIMIT} events per feed; ask for fewer."},
    )


@dataclass(frozen=True)
class FeedItem:
    id: str
    url: str
    title: str
    summary: str
    published: datetime
    updated: datetime
    author: str | None
    categories: tuple[str, ...]
    event_type: str
    status: str
    duration_ms: int | None
    entity_type: str
    entity_id: str | None


@dataclass(frozen=True)
class FeedSelection:
    project_name: str
    page_url: str  # the activity page with the same filters
    self_url: str
    filtered: bool
    items: list[FeedItem]


def _author(user):
    if user is None:
        return None
    return feed_text(user.get_full_name() or user.get_username())


def _summary(event):
    parts = [EventStatus(event.status).label, f"took {format_duration(event.duration)}" if event.duration is not None else None,
             EventType(event.event_type).label, f"{event.entity_type} {event.entity_id or ''}".strip()]
    summary = " · ".join(p for p in parts if p)
    return feed_text(f"{summary}\n\n{event.description}" if event.description else summary)


def _item(request, slug, event) -> FeedItem:
    url = request.build_absolute_uri(reverse("events:event_detail", args=[slug, event.pk]))
    category = CATEGORY_OF_TYPE.get(event.event_type)
    return FeedItem(
        id=url, url=url, title=feed_text(event.title) or EventType(event.event_type).label, summary=_summary(event),
        published=event.created_at, updated=max(event.updated_at, event.created_at), author=_author(event.user),
        categories=tuple(c for c in (EventCategory(category).label if category else None, event.event_type, event.status) if c),
        event_type=event.event_type, status=event.status, duration_ms=event.duration,
        entity_type=feed_text(event.entity_type), entity_id=feed_text(event.entity_id),
    )


def select_feed(request, slug, url_name) -> FeedSelection | HttpResponse:
    """The feed's items for a token holder who is a member of the project (404 otherwise), or a 400 response."""
    params = FeedParams(request.GET)
    params.is_valid()
    user = FeedToken.objects.authenticate(params.cleaned_data.get("token"))
    # Membership from the primary, like the token: a member removed a moment ago is refused at once.
    membership = (
        Membership.objects.using(DEFAULT_DB_ALIAS).select_related("project").filter(user=user, project__slug=slug).first()
        if user is not None else None
    )
    if membership is None:
        raise Http404("No such feed.")
    project = membership.project
    if params.errors:
        return plain_bad_request(dict(params.errors), params, heading="Invalid feed parameters.")
    queryset = ActivityEvent.objects.for_project(project).select_related("user").defer("metadata", "search_document")
    filterset = event_filterset(request, project, queryset)
    if not filterset.is_valid():
        return plain_bad_request(filter_errors(filterset), filterset.form)
    limit = params.cleaned_data["limit"] or DEFAULT_LIMIT
    events = filterset.qs.order_by("-created_at", "-pk")[:limit]
    filters = request.GET.copy()
    for key in FEED_PARAMS:
        filters.pop(key, None)
    page_url = request.build_absolute_uri(reverse("events:feed", args=[slug]))
    return FeedSelection(
        project_name=feed_text(project.name),
        page_url=f"{page_url}?{filters.urlencode()}" if filters else page_url,
        # Rebuilt from the parsed query: percent-encoded whatever the client sent.
        self_url=request.build_absolute_uri(reverse(url_name, args=[slug])) + "?" + request.GET.urlencode(),
        filtered=filterset.is_filtered,
        items=[_item(request, slug, event) for event in events],
    )


def _feed_title(selection):
    return f"{selection.project_name} · activity{' (filtered)' if selection.filtered else ''}"


class ActivityAtomFeed(Feed):
    """Django's syndication framework over a prepared FeedSelection (items are FeedItem)."""

    feed_type = Atom1Feed

    def get_object(self, request, selection):
        return selection

    def title(self, selection):
        return _feed_title(selection)

    def link(self, selection):
        return selection.page_url

    def feed_url(self, selection):
        return selection.self_url

    def subtitle(self, selection):
        return f"The newest events of {selection.project_name} on ActivityHub, newest first."

    def items(self, selection):
        return selection.items

    def item_title(self, item):
        return item.title

    def item_description(self, item):
        return linebreaksbr(item.summary, autoescape=True)  # Atom's summary is type="html": escaped text

    def item_link(self, item):
        return item.url

    def item_guid(self, item):
        return item.id

    def item_pubdate(self, item):
        return item.published

    def item_updateddate(self, item):
        return item.updated

    def item_author_name(self, item):
        return item.author

    def item_categories(self, item):
        return item.categories


def _private(response):
    # The URL carries a secret: no shared cache may keep the answer; readers still revalidate with ETag/Last-Modified.
    response["Cache-Control"] = "private, no-cache"
    return response


@login_not_required
@require_safe
@conditional_page
def atom_feed(request, slug):
    selection = select_feed(request, slug, "events:feed_atom")
    if isinstance(selection, HttpResponse):
        return selection
    return _private(ActivityAtomFeed()(request, selection=selection))


@login_not_required
@require_safe
@conditional_page
def json_feed(request, slug):
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/); ActivityHub's own fields under `_activityhub`."""
    selection = select_feed(request, slug, "events:feed_json")
    if isinstance(selection, HttpResponse):
        return selection
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": _feed_title(selection),
        "home_page_url": selection.page_url,
        "feed_url": selection.self_url,
        "description": f"The newest events of {selection.project_name} on ActivityHub, newest first.",
        "items": [
            {
                "id": item.id, "url": item.url, "title": item.title, "content_text": item.summary, "summary": item.summary,
                "date_published": item.published.isoformat(), "date_modified": item.updated.isoformat(),
                **({"authors": [{"name": item.author}]} if item.author else {}),
                "tags": list(item.categories),
                "_activityhub": {"event_type": item.event_type, "status": item.status, "duration_ms": item.duration_ms,
                                 "entity_type": item.entity_type, "entity_id": item.entity_id},
            }
            for item in selection.items
        ],
    }
    response = JsonResponse(document, content_type="application/feed+json", json_dumps_params={"ensure_ascii": False})
    if selection.items:
        response["Last-Modified"] = http_date(max(item.updated for item in selection.items).timestamp())
    return _private(response)


# ----- the Feeds box on the activity page -----


class ResetForm(forms.Form):
    filters = forms.CharField(required=False, max_length=4000)  # the page's filter query, to come back to

    def clean_filters(self):
        # Re-encoded: whatever was posted, what goes back into a URL (or a Location header) is a plain query string.
        return QueryDict(self.cleaned_data["filters"]).urlencode()


@require_POST
def reset_feed_token(request: HtmxHttpRequest, slug):
    """Any member (viewers too) resets their own token: every feed URL they handed out stops working at once."""
    project, membership = get_project_for_member(request, slug)
    form = ResetForm(request.POST)
    filter_query = form.cleaned_data["filters"] if form.is_valid() else ""
    actions.reset_feed_token(project, request.user)
    if request.htmx:
        links = feed_links(request, project, filter_query)
        context = {"project": project, "membership": membership, "feeds": links, "filter_query": filter_query,
                   "feeds_open": True, "feeds_reset": True}
        return render(request, "events/feed.html#feeds", context)
    messages.success(request, "Your feed token was reset: the old feed URLs no longer work.")
    url = reverse("events:feed", args=[slug])
    return redirect(f"{url}?{filter_query}" if filter_query else url)
