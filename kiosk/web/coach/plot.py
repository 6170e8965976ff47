"""Server-side SVG trend of an athlete's completed screens: valgus displacement and FPPA at peak
flexion per leg, and the reactive strength index.

Drawn so it reads right, not just renders:

- one point per completed session (the median of its valid trials, as the verdict uses), x in
  proportion to time so irregular visits look irregular;
- fixed axes (displacement -5..25 deg, peak FPPA -10..30 deg, RSI 0..3 m/s), widened only when
  a value falls outside, so a 2-degree wobble never fills the whole height;
- each point is held against the limit *it* was scored with: the limit is a step line through
  every session's own limit (not today's limit drawn across the past), and a point at or over its
  limit has a dark ring;
- a shaded band of the smallest detectable change (SDC) around the athlete's previous screen's
  value, per leg, on the latest point: a change inside it is measurement noise; and a marker
  (triangle) on each point that moved more than the SDC since the screen before it;
- one legend above the panels, date labels that never overlap.

Plain SVG text: no JavaScript library, no CDN, phones render it natively. Every value placed in
the SVG is a number computed here or text passed through :func:`markupsafe.escape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from kiosk.analysis.rounding import rule_round

WIDTH = 760
PANEL_H = 170
GAP = 46
LEFT, RIGHT, TOP = 52, 18, 74
LEFT_COLOUR, RIGHT_COLOUR, LIMIT_COLOUR, RSI_COLOUR = "#1f6fb5", "#d9661f", "#b3261e", "#2e8b57"
MIN_LABEL_GAP = 84  # px between date labels (about one "06 Dec 26" at 12 px)


@dataclass(frozen=True)
class TrendPoint:
    """One completed screen: its medians and the limits it was scored with."""

    when: datetime
    label: str
    verdict: str
    left_disp: float | None
    right_disp: float | None
    left_peak: float | None
    right_peak: float | None
    rsi: float | None
    limit_disp: float
    limit_peak: float


@dataclass(frozen=True)
class _Panel:
    key: str
    title: str
    unit: str
    axis: tuple[float, float]
    series: tuple[tuple[str, str, str, str], ...]  # (series key, TrendPoint attribute, colour, label)
    limit: str | None  # TrendPoint attribute holding this panel's limit
    sdc: float | None


def _axis(fixed: tuple[float, float], values: list[float]) -> tuple[float, float, float]:
    """(low, high, tick step): the fixed range, widened in whole steps only when data fall outside."""
    lo, hi = fixed
    step = 5.0 if hi - lo >= 15 else 0.5
    while values and min(values) < lo:
        lo -= step
    while values and max(values) > hi:
        hi += step
    return lo, hi, step


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def trend_svg(points: list[TrendPoint], *, sdc_disp: float, sdc_peak: float) -> Markup:
    """The whole figure as an inline ``<svg>`` (scales to its container's width)."""
    panels = [
        _Panel("disp", "Valgus displacement", "deg, knee moving inward after landing: the main rule", (-5.0, 25.0),
               (("disp_left", "left_disp", LEFT_COLOUR, "Left leg"), ("disp_right", "right_disp", RIGHT_COLOUR, "Right leg")),
               "limit_disp", sdc_disp),
        _Panel("peak", "FPPA at peak knee flexion", "deg, + = knee inward", (-10.0, 30.0),
               (("peak_left", "left_peak", LEFT_COLOUR, "Left leg"), ("peak_right", "right_peak", RIGHT_COLOUR, "Right leg")),
               "limit_peak", sdc_peak),
        _Panel("rsi", "Reactive strength index", "m/s, jump height / contact time", (0.0, 3.0),
               (("rsi", "rsi", RSI_COLOUR, "RSI"),), None, None),
    ]
    n = len(points)
    height = TOP + len(panels) * (PANEL_H + GAP) + 10
    out = [f'<svg class="trend" role="img" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg" '
           f'aria-label="Trend over {n} completed screens">']
    if n == 0:
        out.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">No completed screens yet</text></svg>')
        return Markup("".join(out))
    out.append(_legend())
    plot_w = WIDTH - LEFT - RIGHT
    t0, t1 = points[0].when.timestamp(), points[-1].when.timestamp()

    def x_of(p: TrendPoint) -> float:
        return LEFT + plot_w / 2 if t1 - t0 < 1 else LEFT + 8 + (p.when.timestamp() - t0) / (t1 - t0) * (plot_w - 16)

    xs = [x_of(p) for p in points]
    for index, panel in enumerate(panels):
        top = TOP + index * (PANEL_H + GAP)
        values = [v for _, attr, _, _ in panel.series for p in points if (v := getattr(p, attr)) is not None]
        if panel.limit:
            values += [getattr(p, panel.limit) for p in points]
        lo, hi, step = _axis(panel.axis, values)

        def y_of(v: float, top: float = top, lo: float = lo, hi: float = hi) -> float:
            return top + PANEL_H - (v - lo) / (hi - lo) * PANEL_H

        out.append(f'<g class="panel" data-panel="{panel.key}" data-axis="{_fmt(lo)} {_fmt(hi)}">')
        out.append(f'<text class="panel-title" x="{LEFT}" y="{top - 9}">{escape(panel.title)} '
                   f'<tspan class="unit">({escape(panel.unit)})</tspan></text>')
        out.append(f'<rect class="frame" x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}"/>')
        tick = lo
        while tick <= hi + 1e-9:
            y = y_of(tick)
            out.append(f'<line class="grid{" zero" if abs(tick) < 1e-9 else ""}" x1="{LEFT}" x2="{LEFT + plot_w}" '
                       f'y1="{y:.1f}" y2="{y:.1f}"/><text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{_fmt(tick)}</text>')
            tick += step
        if panel.sdc and n >= 2:
            out += _sdc_bands(panel, points, xs, y_of)
        if panel.limit:
            out.append(_limit_line(panel, points, xs, y_of, plot_w))
        for key, attr, colour, label in panel.series:
            out += _series(panel, key, attr, colour, label, points, xs, y_of)
        out.append("</g>")
    out += _date_labels(points, xs, TOP + len(panels) * (PANEL_H + GAP) - GAP + 18)
    out.append("</svg>")
    return Markup("".join(out))


def _legend() -> str:
    items = [(f'<circle cx="6" cy="-4" r="4.5" fill="{LEFT_COLOUR}"/>', "Left leg (athlete's own)"),
             (f'<circle cx="6" cy="-4" r="4.5" fill="{RIGHT_COLOUR}"/>', "Right leg"),
             (f'<line x1="0" x2="14" y1="-4" y2="-4" stroke="{LIMIT_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>',
              "Limit the screen was scored with"),
             ('<rect x="0" y="-10" width="14" height="12" class="sdc-key"/>', "Smallest detectable change"),
             (f'<path d="M6 -10 L12 0 L0 0 Z" fill="{LIMIT_COLOUR}"/>', "Changed more than that")]
    out, x = ['<g class="legend">'], LEFT
    widths = (160, 90, 210, 190, 160)
    row_y = 18
    for (mark, text), w in zip(items, widths, strict=True):
        if x + w > WIDTH - RIGHT:
            x, row_y = LEFT, row_y + 18
        out.append(f'<g transform="translate({x},{row_y})">{mark}<text x="19" y="0">{escape(text)}</text></g>')
        x += w
    out.append("</g>")
    return "".join(out)


def _limit_line(panel: _Panel, points: list[TrendPoint], xs: list[float], y_of, plot_w: float) -> str:
    """A step line through each screen's own limit, from midway to its neighbours."""
    assert panel.limit
    lims = [getattr(p, panel.limit) for p in points]
    edges = [LEFT] + [(a + b) / 2 for a, b in zip(xs, xs[1:], strict=False)] + [LEFT + plot_w]
    d = []
    for i, lim in enumerate(lims):
        y = y_of(lim)
        d.append(f"{'M' if i == 0 else 'L'}{edges[i]:.1f},{y:.1f} L{edges[i + 1]:.1f},{y:.1f}")
    label = f"limit {_fmt(lims[0])}°" + ("" if len(set(lims)) == 1 else f", later {_fmt(lims[-1])}° (changed over time)")
    return (f'<path class="limit" data-limits="{" ".join(_fmt(v) for v in lims)}" d="{" ".join(d)}"/>'
            f'<text class="limit-label" x="{LEFT + 4}" y="{y_of(lims[0]) - 5:.1f}" '
            f'text-anchor="start">{escape(label)}</text>')


def _sdc_bands(panel: _Panel, points: list[TrendPoint], xs: list[float], y_of) -> list[str]:
    """Around the previous screen's value of each leg, over the span to the latest point."""
    out = []
    for key, attr, colour, _ in panel.series:
        prev, last = getattr(points[-2], attr), getattr(points[-1], attr)
        if prev is None or last is None or panel.sdc is None:
            continue
        y_hi, y_lo = y_of(prev + panel.sdc), y_of(prev - panel.sdc)
        out.append(f'<rect class="sdc" data-series="{key}" x="{xs[-2]:.1f}" y="{y_hi:.1f}" '
                   f'width="{max(6.0, xs[-1] - xs[-2] + 6):.1f}" height="{y_lo - y_hi:.1f}" fill="{colour}">'
                   f'<title>{escape(f"±{panel.sdc:.1f}° around the previous screen: a change inside is noise")}</title></rect>')
    return out


def _series(panel: _Panel, key: str, attr: str, colour: str, label: str, points: list[TrendPoint],
            xs: list[float], y_of) -> list[str]:
    out = []
    pts = [(x, getattr(p, attr), i) for i, (x, p) in enumerate(zip(xs, points, strict=True)) if getattr(p, attr) is not None]
    if len(pts) > 1:
        out.append(f'<polyline class="line" points="{" ".join(f"{x:.1f},{y_of(v):.1f}" for x, v, _ in pts)}" '
                   f'stroke="{colour}"/>')
    previous: float | None = None
    for x, v, i in pts:
        p = points[i]
        lim = getattr(p, panel.limit) if panel.limit else None
        over = lim is not None and (v >= lim if panel.key == "disp" else v > lim)
        shown = rule_round(v, 1, lim, out=over) if lim is not None else round(v, 1)   # agrees with "over"
        tip = f"{p.label}: {label} {shown:.1f}" + (f" (limit then {lim:g}, {'over' if over else 'under'})" if lim else "")
        out.append(f'<circle class="pt{" over" if over else ""}" data-series="{key}" data-limit="{_fmt(lim) if lim else ""}" '
                   f'cx="{x:.1f}" cy="{y_of(v):.1f}" r="4" fill="{colour}"><title>{escape(tip)}</title></circle>')
        if panel.sdc and previous is not None and abs(v - previous) > panel.sdc:
            up = v > previous
            y = y_of(v) + (-9 if up else 9)
            tri = f"M{x - 5:.1f},{y + 4:.1f} L{x + 5:.1f},{y + 4:.1f} L{x:.1f},{y - 5:.1f} Z" if up else \
                  f"M{x - 5:.1f},{y - 4:.1f} L{x + 5:.1f},{y - 4:.1f} L{x:.1f},{y + 5:.1f} Z"
            what = f"{label}: {'+' if up else ''}{v - previous:.1f}° since the screen before (more than the {panel.sdc:.1f}° SDC)"
            out.append(f'<path class="change" data-series="{key}" d="{tri}" fill="{colour}"><title>{escape(what)}</title></path>')
        previous = v
    return out


def _date_labels(points: list[TrendPoint], xs: list[float], y: float) -> list[str]:
    """Dates under the last panel: the latest always, the others (first to last) where they do not collide."""
    chosen = [len(points) - 1]
    for i in range(len(points) - 1):
        if all(abs(xs[i] - xs[j]) >= MIN_LABEL_GAP for j in chosen):
            chosen.append(i)
    out = []
    for i in sorted(chosen):
        anchor = "start" if xs[i] < LEFT + 45 else "end" if xs[i] > WIDTH - RIGHT - 45 else "middle"
        out.append(f'<text class="tick date" x="{xs[i]:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
                   f"{points[i].when:%d %b %y}</text>")
    return out
