"""The feed's row, built in Python: the template engine spent ~0.25 ms a row (~1,350 lookups for a page of 50),
more than the whole database query. The markup is the same one the template had; tests pin it down."""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timezone import localtime

register = template.Library()


@register.simple_tag(takes_context=True)
def feed_row(context, event):
    project = context["project"]
    detail_url = reverse("events:event_detail", args=[project.slug, event.pk])
    poll = (
        format_html(
            ' data-poll="{}" hx-get="{}" hx-trigger="poll" hx-target="this" hx-swap="outerHTML"',
            context.get("poll_seconds") or 10,
            detail_url,
        )
        if event.is_running
        else ""
    )
    entity_id = format_html(" <code>{}</code>", event.entity_id) if event.entity_id else ""
    who = event.actor_name
    author = who if who else format_html('<span class="muted">{}</span>', "system")
    return format_html(
        '<tr id="event-{}" class="event-row status-{}"{}>\n'
        '  <td class="nowrap"><time datetime="{}">{}</time></td>\n'
        "  <td>\n"
        '    <a class="event-title" href="{}">{}</a>\n'
        '    <div class="muted small"><span class="badge cat-{}">{}</span> {} · {}{}</div>\n'
        "  </td>\n"
        '  <td><span class="badge {}">{}</span></td>\n'
        '  <td class="num">{}</td>\n'
        "  <td>{}</td>\n"
        "</tr>",
        event.pk, event.status.lower(), poll,
        localtime(event.created_at).isoformat(), naturaltime(event.created_at),
        detail_url, event.title,
        event.category, event.get_category_display(), event.get_event_type_display(), event.entity_type, entity_id,
        event.status_badge, event.get_status_display(),
        event.duration_text or "—",
        author,
    )
