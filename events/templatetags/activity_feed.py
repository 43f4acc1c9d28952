"""The feed's rows, built in Python: the template engine spent ~0.25 ms a row (~1,350 lookups for a page of 50),
more than the whole database query, and format_html with a reverse() and three get_FOO_display() per row still
cost ~0.13 ms. Here labels are escaped once at import, the detail URL is reversed once per page, and only what
clients sent (title, entity, author) is escaped per row. Tests pin the markup and its escaping down."""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

from lib.status import badge_html
from projects.durations import format_duration

from ..models.activity import CATEGORY_OF_TYPE, EventCategory, EventStatus, EventType, recorded_by

register = template.Library()

TYPE_LABEL = {value: escape(label) for value, label in EventType.choices}
STATUS_LABEL = {value: escape(label) for value, label in EventStatus.choices}
CATEGORY_BADGE = {
    event_type: f'<span class="badge cat-{category}">{escape(EventCategory(category).label)}</span>'
    for event_type, category in CATEGORY_OF_TYPE.items()
}
# The feed's rows carry the one status badge (lib.status), built once per status here.
STATUS_BADGE_HTML = {status: str(badge_html(status, label)) for status, label in EventStatus.choices}


PK_PLACEHOLDER = 2147483647
SYSTEM = '<span class="muted">system</span>'


def _detail_url_parts(context):
    """The event detail URL around its pk, reversed once per rendering of the page."""
    cache = context.render_context
    if "feed_detail_url" not in cache:
        url = reverse("events:event_detail", args=[context["project"].slug, PK_PLACEHOLDER])
        cache["feed_detail_url"] = url.split(str(PK_PLACEHOLDER), 1)
    return cache["feed_detail_url"]


class _PageClock:
    """The page's time zone and "… ago" labels, worked out once per distinct label rather than once per row.

    Django's naturaltime (~9 µs a row) gives the same words to every row in the same second, minute or hour of the
    last day: the label is computed for the first row of each and reused for the rest. Older and future rows
    (calendar-dependent wording) are each asked afresh.
    """

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.now = timezone.now()
        self.labels: dict[int, str] = {}

    def ago(self, created):
        delta = self.now - created
        if delta.days != 0 or delta.seconds == 0:  # not in the last day (or this very second)
            return escape(naturaltime(created))
        # Within a day the words depend on the whole seconds under a minute, else on the whole minutes.
        key = delta.seconds if delta.seconds < 60 else -(delta.seconds // 60)
        label = self.labels.get(key)
        if label is None:
            label = self.labels[key] = escape(naturaltime(created))
        return label


def _row_html(event, url_parts, poll_seconds, link_query="", clock=None):
    head, tail = url_parts
    url = f"{head}{event.pk}{tail}"
    status = event.status
    poll = (
        # Pushed by the page's live stream (event-<pk>) where it has one; polled otherwise.
        f' data-poll="{poll_seconds}" hx-get="{url}" hx-trigger="poll" hx-target="this" hx-swap="outerHTML"'
        f' sse-swap="event-{event.pk}"'
        if status == EventStatus.IN_PROGRESS
        else ""
    )
    entity_id = f" <code>{escape(event.entity_id)}</code>" if event.entity_id else ""
    by = recorded_by(event)
    author = escape(by) if by else SYSTEM
    duration = format_duration(event.duration)
    clock = clock or _PageClock()
    created = event.created_at.astimezone(clock.zone)  # as localtime() does, with the zone looked up once a page
    stamp = created.isoformat()
    # strftime("%Y-%m-%d %H:%M:%S %Z") costs ~5 µs a row; the same words cut from the ISO stamp, ~1 µs.
    title = f"{stamp[:10]} {stamp[11:19]} {created.tzname()}"
    return (
        f'<tr id="event-{event.pk}" class="event-row status-{status.lower()}"{poll}>\n'
        f'  <td class="nowrap"><time datetime="{stamp}" title="{title}">{clock.ago(created)}</time></td>\n'
        "  <td>\n"
        f'    <a class="event-title" href="{url}{link_query}">{escape(event.title)}</a>\n'
        f'    <div class="muted small">{CATEGORY_BADGE[event.event_type]} {TYPE_LABEL[event.event_type]} · '
        f"{escape(event.entity_type)}{entity_id}</div>\n"
        "  </td>\n"
        f"  <td>{STATUS_BADGE_HTML[status]}</td>\n"
        f'  <td class="num">{duration}</td>\n'
        f"  <td>{author}</td>\n"
        "</tr>"
    )


@register.simple_tag(takes_context=True)
def feed_rows(context, events):
    """Every row of a page in one call (a `{% for %}` over a partial costs ~40 µs a row in the engine)."""
    url_parts = _detail_url_parts(context)
    poll_seconds = int(context.get("poll_seconds") or 10)
    # The detail link carries the feed's filters, so its "Back to the activity feed" returns to the same view.
    filter_query = context.get("filter_query")
    link_query = f"?{escape(filter_query)}" if filter_query else ""
    # _row_html escapes every value it writes (a template per row costs ~40 µs in the engine).
    clock = _PageClock()
    return mark_safe("\n".join(_row_html(event, url_parts, poll_seconds, link_query, clock) for event in events))  # noqa: S308


@register.simple_tag(takes_context=True)
def feed_row(context, event):
    """One row (an in-progress row polls its detail URL and is swapped for this)."""
    return feed_rows(context, [event])


# The filter form's choices. A `{% for %}` with an `{% if %}` inside costs the engine ~15 µs an option, and the form
# has about 40 (types, categories, statuses, members); these write the same markup in one call each.


def _chosen(chosen):
    # A multiple field's value is a list (`value in chosen`), a single one's a string or None (`value == chosen`).
    return set(chosen) if isinstance(chosen, (list, tuple)) else {chosen}


@register.simple_tag
def select_options(choices, chosen, flat=False):
    """`<option>`s of (value, label) choices, or of plain values with `flat`, the chosen ones selected."""
    chosen = _chosen(chosen)
    pairs = ((value, value) for value in choices) if flat else choices
    return mark_safe("".join(  # noqa: S308 (every value and label is escaped)
        f'<option value="{conditional_escape(value)}"{" selected" if value in chosen else ""}>'
        f"{conditional_escape(label)}</option>"
        for value, label in pairs
    ))


@register.simple_tag
def check_boxes(name, choices, chosen):
    """A checkbox per (value, label) choice, ids `id_<name>_<n>` as Django's widget numbers them, the chosen checked."""
    chosen = _chosen(chosen)
    name = conditional_escape(name)
    return mark_safe("".join(  # noqa: S308 (every value and label is escaped)
        f'<label class="check" for="id_{name}_{n}"><input type="checkbox" name="{name}" '
        f'value="{conditional_escape(value)}" id="id_{name}_{n}"{" checked" if value in chosen else ""}> '
        f"{conditional_escape(label)}</label>"
        for n, (value, label) in enumerate(choices)
    ))
