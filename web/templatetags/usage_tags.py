"""Usage on the key page: money in dollars, shares of a limit, and the chart."""
from django import template

from web import charts

register = template.Library()


@register.filter
def money(microcents) -> str:
    return "" if microcents is None else charts.format_money(microcents)


@register.filter
def share_of(used, limit) -> int:
    """Whole percent of `limit` used, at most 100; a limit of 0 is used up from the start."""
    if used is None or limit is None:
        return 0
    if limit <= 0:
        return 100
    return min(100, used * 100 // limit)


@register.simple_tag
def usage_chart(series: dict, layout: str = "wide", metric: str = "requests"):
    shape = charts.NARROW if layout == "narrow" else charts.WIDE
    return charts.usage_chart_svg(series["granularity"], series["points"], series["days"], shape, metric)
