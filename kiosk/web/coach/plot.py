"""Server-side SVG trend plot of an athlete's sessions: peak FPPA per leg, KASR, RSI.

Drawn as plain SVG text so coach pages need no JavaScript library and no CDN, and phones render
it natively. One point per session (the session's median over valid trials, as the verdict
uses), x proportional to time so irregular visits look irregular. Every value placed in the
SVG is a number we computed or text passed through :func:`markupsafe.escape`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 720
PANEL_H = 150
GAP = 34
LEFT, RIGHT, TOP = 56, 16, 30


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str
    values: list[float | None]


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    series: list[Series]
    limit: float | None = None
    limit_label: str = ""


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - 1e-9:  # the top tick reaches the largest value: no point drawn outside
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


def trend_svg(when: list[datetime], panels: list[Panel], *, labels: list[str] | None = None) -> Markup:
    """The whole figure as an inline ``<svg>`` (scales to its container's width)."""
    n = len(when)
    height = TOP + len(panels) * (PANEL_H + GAP) + 20
    out = [f'<svg class="trend" role="img" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg" '
           f'aria-label="Trend over {n} sessions">']
    if n == 0:
        out.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">No sessions yet</text></svg>')
        return Markup("".join(out))
    t0 = min(when).timestamp()
    t1 = max(when).timestamp()
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(t: datetime) -> float:
        if t1 - t0 < 1:
            return LEFT + plot_w / 2
        return LEFT + (t.timestamp() - t0) / (t1 - t0) * plot_w

    xs = [x_of(t) for t in when]
    for p_index, panel in enumerate(panels):
        top = TOP + p_index * (PANEL_H + GAP)
        values = [v for s in panel.series for v in s.values if v is not None]
        if panel.limit is not None:
            values.append(panel.limit)
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        ticks = _nice_ticks(lo, hi)
        y_lo, y_hi = ticks[0], ticks[-1]

        def y_of(v: float, top: float = top, y_lo: float = y_lo, y_hi: float = y_hi) -> float:
            return top + PANEL_H - (v - y_lo) / ((y_hi - y_lo) or 1) * PANEL_H

        out.append(f'<g class="panel" data-panel="{escape(panel.title)}">')
        out.append(f'<text class="panel-title" x="{LEFT}" y="{top - 8}">{escape(panel.title)} '
                   f'<tspan class="unit">({escape(panel.unit)})</tspan></text>')
        out.append(f'<rect class="frame" x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}"/>')
        for tv in ticks:
            y = y_of(tv)
            out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                       f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tv)}</text>')
        if panel.limit is not None:
            y = y_of(panel.limit)
            out.append(f'<line class="limit" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                       f'<text class="limit-label" x="{LEFT + plot_w - 4}" y="{y - 4:.1f}" text-anchor="end">'
                       f'{escape(panel.limit_label)}</text>')
        for s_index, s in enumerate(panel.series):
            pts = [(x, y_of(v), v, i) for i, (x, v) in enumerate(zip(xs, s.values, strict=True)) if v is not None]
            if len(pts) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in pts)
                out.append(f'<polyline class="line" points="{path}" stroke="{s.colour}"/>')
            for x, y, v, i in pts:
                tip = f"{labels[i]}: " if labels else ""
                out.append(f'<circle class="pt" data-series="{s.key}" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                           f'fill="{s.colour}"><title>{escape(tip)}{escape(s.label)} {v:.2f}</title></circle>')
            # legend in the title row, right-aligned, so it never covers a point
            lx = WIDTH - RIGHT - (len(panel.series) - s_index) * 180
            out.append(f'<g class="legend"><rect x="{lx}" y="{top - 18}" width="10" height="10" fill="{s.colour}"/>'
                       f'<text x="{lx + 14}" y="{top - 9}">{escape(s.label)}</text></g>')
        out.append("</g>")
    bottom = TOP + len(panels) * (PANEL_H + GAP) - GAP + 16
    for i in sorted({0, n - 1, *range(0, n, max(1, n // 5))}):
        anchor = "start" if xs[i] < LEFT + 40 else "end" if xs[i] > WIDTH - RIGHT - 40 else "middle"
        out.append(f'<text class="tick" x="{xs[i]:.1f}" y="{bottom}" text-anchor="{anchor}">'
                   f"{when[i]:%d %b %y}</text>")
    out.append("</svg>")
    return Markup("".join(out))
