"""One status badge: the feed's rows and events/_status_badge.html (events, audit actions) render the same markup."""

import pytest
from django.template.loader import render_to_string

from events.models.activity import ActionStatus, EventStatus
from events.templatetags.activity_feed import STATUS_BADGE_HTML


@pytest.mark.parametrize("status", EventStatus)
def test_feed_row_badge_equals_the_included_badge(status):
    included = render_to_string("events/_status_badge.html", {"status": status.value, "label": status.label})
    assert included.strip() == STATUS_BADGE_HTML[status.value]


@pytest.mark.parametrize(
    ("status", "css"),
    [(ActionStatus.SUCCESS, "badge-ok"), (ActionStatus.FAILED, "badge-bad"), (ActionStatus.IN_PROGRESS, "badge-warn")],
)
def test_audit_action_badges_use_the_same_classes(status, css):
    html = render_to_string("events/_status_badge.html", {"status": status.value, "label": status.label})
    assert f'class="badge {css}' in html and status.label in html


def test_badge_label_is_escaped():
    html = render_to_string("events/_status_badge.html", {"status": "FAILED", "label": "<b>x</b>"})
    assert "<b>" not in html and "&lt;b&gt;" in html
