"""Charts as inline SVG, drawn on the server: no chart library, nothing fetched at run time.

Pure functions from numbers to markup; the pages embed the result and the live refresh
replaces it with the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 8, 10, 22


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    css: str  # class giving the colour, defined in dashboard.css


def bars(
    labels: Sequence[str], series: Sequence[Series], *, title: str, width: int = WIDTH
) -> Markup:
    """Grouped bars per label (e.g. processed and failed per minute), with a y scale and a
    tooltip per bar. ``labels`` and every series' values have the same length. ``width`` is
    in the units of the text size: wider for a chart that spans the page."""
    count = len(labels)
    top = _nice_max(max((v for s in series for v in s.values), default=0.0))
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(count, 1)
    bar_w = max(slot * 0.8 / max(len(series), 1), 0.5)
    parts = [_frame(title, top, plot_w, plot_h)]
    for i, label in enumerate(labels):
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top if top else 0.0
            x = PAD_LEFT + i * slot + slot * 0.1 + j * bar_w
            y = PAD_TOP + plot_h - h
            parts.append(
                f'<rect class="{s.css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{max(h, 0):.1f}"><title>{escape(label)}: {_fmt(value)} '
                f"{escape(s.name)}</title></rect>"
            )
    for i in _tick_indexes(count):
        # the outer labels align to the plot's edges, so they are never cut off
        x, anchor = PAD_LEFT + (i + 0.5) * slot, "middle"
        if i == 0 and count > 1:
            x, anchor = PAD_LEFT + slot * 0.1, "start"
        elif i == count - 1 and count > 1:
            x, anchor = PAD_LEFT + plot_w, "end"
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{escape(labels[i])}</text>"
        )
    if not top:
        parts.append(
            f'<text class="axis" x="{PAD_LEFT + plot_w / 2:.1f}" y="{PAD_TOP + plot_h / 2:.1f}" '
            'text-anchor="middle">nothing processed in this period</text>'
        )
    return _svg(title, parts, width=width)


def stacked(
    rows: Sequence[tuple[str, Sequence[tuple[str, float, str]]]],
    *,
    title: str,
    width: int = WIDTH * 2,
) -> Markup:
    """One horizontal stacked bar per row (queue), segments (state, count, css class)."""
    row_h, gap, label_w = 18, 8, 130
    height = max(len(rows), 1) * (row_h + gap) + 10
    top = max((sum(v for _, v, _ in segs) for _, segs in rows), default=0.0)
    plot_w = width - label_w - 60
    parts: list[str] = []
    for r, (name, segments) in enumerate(rows):
        y = 5 + r * (row_h + gap)
        parts.append(
            f'<text class="axis label" x="{label_w - 8}" y="{y + row_h * 0.7:.1f}" '
            f'text-anchor="end">{escape(_clip(name, 16))}</text>'
        )
        x, total = float(label_w), 0.0
        for state, value, css in segments:
            w = plot_w * value / top if top else 0.0
            if w > 0:
                parts.append(
                    f'<rect class="{css}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}">'
                    f"<title>{escape(name)}: {_fmt(value)} {escape(state)}</title></rect>"
                )
            x += w
            total += value
        parts.append(
            f'<text class="axis" x="{x + 6:.1f}" y="{y + row_h * 0.7:.1f}">{_fmt(total)}</text>'
        )
    if not rows:
        parts.append(f'<text class="axis" x="{label_w}" y="20">no queues yet</text>')
    return _svg(title, parts, height, width)


def _frame(title: str, top: float, plot_w: float, plot_h: float) -> str:
    lines = []
    for k in range(5 if top else 1):
        y = PAD_TOP + plot_h - plot_h * k / 4
        lines.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y:.1f}" '
            f'y2="{y:.1f}"/><text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_fmt(top * k / 4)}</text>'
        )
    return "".join(lines)


def _svg(title: str, parts: list[str], height: int = HEIGHT, width: int = WIDTH) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">{body}</svg>'
    )


def _nice_max(value: float) -> float:
    """A round top for the y scale: 1, 2, 2.5 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 0.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _tick_indexes(count: int) -> list[int]:
    if count <= 1:
        return list(range(count))
    return sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
