"""projects.charts: the one SVG builder behind the insights chart, the monitoring sparklines and share bars."""

import re

from projects.charts import Bar, share_bar, stacked_bars


def heights(svg, css):
    return [float(h) for h in re.findall(rf'<rect class="{css}"[^>]*height="([\d.]+)"', svg)]


def test_bars_scale_to_the_busiest_and_stack_failures_on_top():
    svg = stacked_bars([Bar("a", 10, 0), Bar("b", 5, 5), Bar("c", 0, 0)], width=300, height=100, label="Runs")
    assert heights(svg, "bar-ok") == [100.0, 50.0]
    assert heights(svg, "bar-failed") == [50.0]
    assert 'y="0" height="50"' in svg  # the failed half sits above the ok half
    assert 'role="img" aria-label="Runs"' in svg


def test_titles_labels_and_names_are_escaped():
    svg = stacked_bars([Bar("<b>", 1, 0, label="<i>")], width=100, height=60, label="<script>", axis=True)
    assert "<b>" not in svg and "<i>" not in svg and "<script>" not in svg
    assert "&lt;b&gt;" in svg and "&lt;i&gt;" in svg


def test_an_empty_chart_has_no_bars_and_no_division_by_zero():
    svg = stacked_bars([Bar("x", 0, 0)], width=100, height=60, label="none", axis=True, track=True)
    assert "bar-ok" not in svg and "bar-failed" not in svg and "bar-track" in svg


def test_share_bar_is_clamped_to_its_box():
    assert 'width="100"' in share_bar(250) and 'width="0"' in share_bar(-3) and 'width="42.5"' in share_bar(42.5)
