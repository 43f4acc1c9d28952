"""One duration format everywhere: the feed, event pages, insights sentences and monitoring pages."""

from django.template import Context, Template
from django.utils import timezone

from events.insights import DurationStat, Insights, event_summaries
from events.templatetags.activity_feed import _row_html
from projects.durations import format_duration


def test_durations_read_the_same_way_at_every_scale():
    assert [format_duration(v) for v in (None, 850, 12_300, 186_044, 3_720_000)] == [
        "—", "850 ms", "12.3 s", "3 m 06 s", "1 h 02 m"
    ]


def test_monitoring_filter_is_the_same_function():
    rendered = Template("{% load monitoring_tags %}{{ ms|duration }}").render(Context({"ms": 186_044}))
    assert rendered == format_duration(186_044) == "3 m 06 s"


def test_insights_sentence_uses_the_same_format():
    insights = Insights(days=7, since=timezone.now(), total=0, by_status={"FAILED": 0},
                        durations=[DurationStat("INDEXING_STARTED", "Indexing started", 25, 186_044.0, 282_000.0)])
    assert ("Indexing started is the slowest step: p95 4 m 42 s from 25 timed events, 3 m 06 s on average."
            in event_summaries(insights))


def test_feed_row_uses_the_same_format():
    class Row:
        pk, status, entity_id, actor_name, title, entity_type = 7, "COMPLETED", None, None, "t", "indexing"
        event_type, duration, created_at = "INDEXING_STARTED", 186_044, timezone.now()
        api_key_name = api_key_prefix = None

    assert '<td class="num">3 m 06 s</td>' in _row_html(Row, ("/e/", "/"), 10)
