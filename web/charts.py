"""The key page's usage charts, drawn on the server as SVG: nothing to fetch, no script, and
they print. Two charts, each with one scale: requests per period (successful bars, failed ones
stacked on top in another colour) and spend per period (bars, the real amount of each period:
a line between periods would draw amounts that were never spent). Every text goes through
format_html; the page shows the same numbers in a table for screen readers.

An SVG scales its text with its width, so one drawing cannot be legible both across a desktop
card and on a phone: the page gets a wide and a narrow layout and CSS shows one of them.
"""
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

MICROCENTS_PER_CENT = 1_000_000
MICROCENTS_PER_DOLLAR = 100 * MICROCENTS_PER_CENT



@dataclass(frozen=True)
class Layout:
    name: str
    width: int
    height: int
    left: int = 70
    right: int = 12
    top: int = 24
    bottom: int = 40
    x_labels: int = 7

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


WIDE = Layout("wide", 600, 190)
NARROW = Layout("narrow", 340, 190, left=70, x_labels=4)
COLOURS = {"successful": "#5b8def", "failed": "#d92d20", "spend": "#1d2330", "grid": "#d9dee7", "text": "#5b6474"}


def format_money(microcents: int) -> str:
    """Dollars, exact: prices are whole microcents, so eight decimals always suffice."""
    text = f"{Decimal(microcents) / MICROCENTS_PER_DOLLAR:,.8f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def nice_ticks(most: int, count: int = 4) -> list[int]:
    """Whole-number ticks from 0 whose step is 1, 2 or 5 × 10^n and whose last tick reaches `most`."""
    if most <= 0:
        return [0]
    rough = most / count
    magnitude = 10 ** max(0, math.floor(math.log10(rough))) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return list(range(0, step * math.ceil(most / step) + 1, step))


def bucket_label(bucket: datetime, granularity: str) -> str:
    return f"{bucket:%H}:00" if granularity == "hour" else f"{bucket:%b} {bucket.day}"


def _y(value: int, ticks: list[int], layout: Layout) -> float:
    return layout.top + layout.plot_height - (value / (ticks[-1] or 1)) * layout.plot_height


def _n(number: float) -> str:
    """A coordinate; format_html escapes its arguments to strings, so they are formatted first."""
    return f"{number:.1f}"


def _summary(granularity: str, points: list[dict], days: int, metric: str = "requests") -> str:
    unit = "hour" if granularity == "hour" else "day"
    if metric == "spend":
        spend = sum(p["spend_microcents"] for p in points)
        text = f"Spend per {unit} over the last {days} days (UTC): {format_money(spend)} in all."
        highest = max(points, key=lambda p: p["spend_microcents"], default=None)
        if highest and highest["spend_microcents"]:
            text += (f" Highest {unit}: {bucket_label(highest['bucket'], granularity)}, "
                     f"{format_money(highest['spend_microcents'])}.")
        return text
    total = sum(p["requests"] for p in points)
    failed = sum(p["failed"] for p in points)
    spend = sum(p["spend_microcents"] for p in points)
    text = (f"Requests per {unit} over the last {days} days (UTC): {total:,} in all, {total - failed:,} successful "
            f"and {failed:,} failed; spend {format_money(spend)}.")
    busiest = max(points, key=lambda p: p["requests"], default=None)
    if busiest and busiest["requests"]:
        text += f" Busiest {unit}: {bucket_label(busiest['bucket'], granularity)}, {busiest['requests']:,} requests."
    return text


def _grid(ticks: list[int], layout: Layout, label) -> SafeString:
    left, right = layout.left, layout.left + layout.plot_width
    return format_html_join("", (
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
        '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
    ), ((left, right, y, y, COLOURS["grid"], left - 6, y, label(t))
        for t, y in ((t, _n(_y(t, ticks, layout))) for t in ticks)))


def _bars(point: dict, metric: str, ticks: list[int], layout: Layout, x: float, width: float) -> SafeString:
    base = layout.top + layout.plot_height
    if metric == "spend":
        top = _y(point["spend_microcents"], ticks, layout)
        return format_html('<rect class="bar-spend" x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                           _n(x), _n(top), _n(width), _n(base - top), COLOURS["spend"])
    ok_top = _y(point["successful"], ticks, layout)
    failed_top = _y(point["requests"], ticks, layout)
    return format_html(
        '<rect class="bar-successful" x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
        '<rect class="bar-failed" x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
        _n(x), _n(ok_top), _n(width), _n(base - ok_top), COLOURS["successful"],
        _n(x), _n(failed_top), _n(width), _n(ok_top - failed_top), COLOURS["failed"])


CHARTS = {"requests": ("Requests", "requests"), "spend": ("Spend (US$)", "spend_microcents")}


def usage_chart_svg(granularity: str, points: list[dict], days: int, layout: Layout = WIDE,
                    metric: str = "requests") -> SafeString:
    """`points` as usage.selectors.usage_timeseries returns them, oldest first; `metric`
    "requests" or "spend", each on its own chart and scale."""
    axis_title, field = CHARTS[metric]
    count = max(1, len(points))
    slot = layout.plot_width / count
    bar = max(1.0, slot * 0.7)
    ticks = nice_ticks(max((p[field] for p in points), default=0))
    label = format_money if metric == "spend" else (lambda t: f"{t:,}")
    left, right, base = layout.left, layout.left + layout.plot_width, layout.top + layout.plot_height
    unit = "Hour" if granularity == "hour" else "Day"

    bars, x_labels = [], []
    every = math.ceil(count / layout.x_labels)
    for i, point in enumerate(points):
        x = left + i * slot + (slot - bar) / 2
        when = bucket_label(point["bucket"], granularity)
        bars.append(format_html(
            '<g><title>{}: {} requests ({} successful, {} failed), spend {}</title>{}</g>',
            when, f"{point['requests']:,}", f"{point['successful']:,}", f"{point['failed']:,}",
            format_money(point["spend_microcents"]), _bars(point, metric, ticks, layout, x, bar)))
        if (count - 1 - i) % every == 0:  # counted from the newest, so today is always labelled
            x_labels.append(format_html('<text x="{}" y="{}" text-anchor="middle">{}</text>',
                                        _n(x + bar / 2), base + 16, when))

    return format_html(
        '<svg class="usage-chart usage-chart-{name} usage-chart-{metric}" viewBox="0 0 {w} {h}" width="100%" '
        'role="img" aria-labelledby="chart-title-{metric}-{name} chart-desc-{metric}-{name}" font-size="12" '
        'fill="{text}">'
        '<title id="chart-title-{metric}-{name}">{axis_title} per {unit_lower}, last {days} days</title>'
        '<desc id="chart-desc-{metric}-{name}">{desc}</desc>'
        '<g class="grid">{grid}</g>'
        '<g class="bars">{bars}</g>'
        '<line x1="{left}" x2="{right}" y1="{base}" y2="{base}" stroke="{text}"/>'
        '<g class="x-labels">{x_labels}</g>'
        '<text class="axis-title y-title" x="2" y="12">{axis_title}</text>'
        '<text class="axis-title x-title" x="{middle}" y="{x_title_y}" text-anchor="middle">{unit} (UTC)</text>'
        '</svg>',
        name=layout.name, metric=metric, w=layout.width, h=layout.height, text=COLOURS["text"], days=days,
        axis_title=axis_title, unit=unit, unit_lower=unit.lower(), desc=_summary(granularity, points, days, metric),
        grid=_grid(ticks, layout, label), bars=format_html_join("", "{}", ((b,) for b in bars)),
        left=left, right=right, base=base, middle=_n(left + layout.plot_width / 2), x_title_y=layout.height - 4,
        x_labels=format_html_join("", "{}", ((label,) for label in x_labels)),
    )
