"""The dashboard's SVG charts, built in Python: the insights page's events per day, the monitoring sparklines
and the share bars. One builder, so geometry, escaping and accessible names are decided once. Python rather
than the template engine: 100 workflows × 7 bars of template tags cost ~200 ms to render."""

from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

AXIS_PAD = 24  # room for the peak figure on the left and the day labels below


@dataclass(frozen=True)
class Bar:
    title: str  # the tooltip: what the bar counts, in words
    ok: int
    failed: int
    label: str | None = None  # written under the bar when the chart has an axis
    mark: str | None = None  # a dot above the bar with this tooltip (e.g. an anomaly that day)


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def stacked_bars(bars, *, width, height, label, css_class="chart", axis=False, track=False, fixed_size=False) -> SafeString:
    """Bars of ok + failed (failed stacked on top, red), scaled to the tallest; `label` is the accessible name.

    axis: a base line, the peak figure and each bar's label; track: a faint full-height bar behind each one;
    fixed_size: width/height attributes (a sparkline), otherwise the chart scales to its container.
    """
    pad = AXIS_PAD if axis else 0
    peak = max((b.ok + b.failed for b in bars), default=0) or 1
    slot = (width - pad) / max(len(bars), 1)
    usable = height - pad
    size = f' width="{width}" height="{height}"' if fixed_size else ""
    parts = [f'<svg class="{css_class}"{size} viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    if axis:
        parts.append(f'<line class="grid-line" x1="{pad}" x2="{width}" y1="{usable}" y2="{usable}"></line>'
                     f'<text x="0" y="12">{peak}</text>')
    for i, bar in enumerate(bars):
        x, bar_width = pad + i * slot + slot * 0.1, slot * 0.8
        ok_h, failed_h = bar.ok / peak * usable, bar.failed / peak * usable
        geometry = f'x="{_n(x)}" width="{_n(bar_width)}"'
        parts.append(f"<g><title>{escape(bar.title)}</title>")
        if track:
            parts.append(f'<rect class="bar-track" {geometry} y="0" height="{_n(usable)}"></rect>')
        if bar.ok:
            parts.append(f'<rect class="bar-ok" {geometry} y="{_n(usable - ok_h)}" height="{_n(ok_h)}"></rect>')
        if bar.failed:
            parts.append(f'<rect class="bar-failed" {geometry} y="{_n(usable - ok_h - failed_h)}" height="{_n(failed_h)}"></rect>')
        if bar.mark:
            parts.append(f'<circle class="bar-mark" cx="{_n(x + bar_width / 2)}" cy="3" r="3"><title>{escape(bar.mark)}</title></circle>')
        parts.append("</g>")
        if axis and bar.label:
            parts.append(f'<text x="{_n(x + bar_width / 2)}" y="{height - 6}" text-anchor="middle">{escape(bar.label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # every number formatted here, every text escaped above


def share_bar(percent) -> SafeString:
    """A thin horizontal bar `percent` (0–100) long: a row's share of the largest row."""
    width = _n(max(0.0, min(float(percent), 100.0)))
    return format_html(
        '<svg class="share" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">'
        '<rect x="0" y="0" width="{}" height="6"></rect></svg>',
        width,
    )
