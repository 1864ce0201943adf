"""Chart geometry for the dashboard's server-rendered SVG (no script, nothing to download).

The functions turn figures into rectangles and lines in a fixed view box; the templates draw
them, so every label goes through the templates' escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from courrier.reputation.stats import Figures

WIDTH = 640.0
HEIGHT = 200.0
LEFT = 44.0  # room for the axis labels
BOTTOM = 22.0  # room for the day labels
TOP = 8.0

#: Outcome segments of a day's bar, bottom up, with their colour class.
SEGMENTS = (
    ("delivered", "delivered"),
    ("hard_bounces", "hard bounces"),
    ("soft_bounces", "soft bounces"),
    ("rejects", "rejects"),
    ("waiting", "no outcome yet"),
    ("suppressed_at_send", "suppressed at send"),
)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Rule:
    y: float
    label: str
    css: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    title: str
    rects: list[Rect] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    ticks: list[Label] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT


def _y(value: float, top: float) -> float:
    plot = HEIGHT - BOTTOM - TOP
    return HEIGHT - BOTTOM - (value / top) * plot if top else HEIGHT - BOTTOM


def _slots(days: list[str]) -> tuple[float, float]:
    slot = (WIDTH - LEFT) / max(len(days), 1)
    return slot, slot * 0.7


def _day_labels(chart: Chart, days: list[str], slot: float) -> None:
    every = max(1, len(days) // 10)  # at most about ten labels, whatever the range
    for n, day in enumerate(days):
        if n % every == 0:
            chart.labels.append(Label(LEFT + n * slot + slot / 2, HEIGHT - 6, day[5:]))


def outcomes(days: dict[str, Figures]) -> Chart:
    """Recipients per day, stacked by outcome (suppressed-at-send on top)."""
    chart = Chart("Recipients per day, by outcome")
    names = list(days)
    slot, bar = _slots(names)
    values = []
    for figures in days.values():
        c = figures.counts
        known = c.delivered + c.hard_bounces + c.soft_bounces + c.rejects
        values.append(
            {
                "delivered": c.delivered,
                "hard_bounces": c.hard_bounces,
                "soft_bounces": c.soft_bounces,
                "rejects": c.rejects,
                "waiting": max(c.recipients - known, 0),
                "suppressed_at_send": c.suppressed_at_send,
            }
        )
    top = max([sum(v.values()) for v in values] + [1])
    for n, (day, value) in enumerate(zip(names, values, strict=True)):
        base = 0
        for key, title in SEGMENTS:
            amount = value[key]
            if not amount:
                continue
            y0, y1 = _y(base, top), _y(base + amount, top)
            chart.rects.append(
                Rect(
                    LEFT + n * slot + (slot - bar) / 2,
                    y1,
                    bar,
                    y0 - y1,
                    key,
                    f"{day}: {amount} {title}",
                )
            )
            base += amount
    chart.ticks = [Label(LEFT - 6, _y(v, top) + 4, str(v)) for v in sorted({0, top // 2, top})]
    chart.legend = [(key, title) for key, title in SEGMENTS]
    _day_labels(chart, names, slot)
    return chart


def rates(
    days: dict[str, Figures], rate: str, lines: list[tuple[str, float, str]], title: str
) -> Chart:
    """One rate per day as bars, with the guard's and AWS's lines drawn across."""
    chart = Chart(title)
    names = list(days)
    slot, bar = _slots(names)
    values = [getattr(f, rate) for f in days.values()]
    top = max([v for v in values if v is not None] + [value for _, value, _ in lines]) * 1.15
    for n, (day, value) in enumerate(zip(names, values, strict=True)):
        if value is None:
            continue
        y = _y(value, top)
        chart.rects.append(
            Rect(
                LEFT + n * slot + (slot - bar) / 2,
                y,
                bar,
                max(HEIGHT - BOTTOM - y, 0.5),  # a zero rate still shows as a hairline
                "rate",
                f"{day}: {value:.2%}",
            )
        )
    chart.rules = [Rule(_y(value, top), f"{label} {value:.2%}", css) for label, value, css in lines]
    chart.ticks = [Label(LEFT - 6, _y(0, top) + 4, "0%")]
    _day_labels(chart, names, slot)
    return chart
