"""The live metrics chart: inline SVG, one small chart per metric, one line per replica.

Why SVG in an ``HTML`` widget and not a chart library: a run's chart is a few lines of at most a
few hundred points each (:class:`~fairing_magics.metrics.MetricSeries` thins them), redrawn a
few times a second. An SVG string of that size costs microseconds to make, needs no front-end
extension beyond ipywidgets, and renders wherever the panel does (JupyterLab, VS Code, the
saved widget state). bqplot or plotly's FigureWidget would add megabytes of JavaScript and an
extension to install for that. Small multiples instead of one plot: losses, accuracies and
learning rates live on different scales.
"""

from __future__ import annotations

import html
import math

from fairing_magics.metrics import MetricSeries

PALETTE = ("#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7d8c", "#57606a")
MAX_CHARTS = 6
WIDTH, HEIGHT = 220, 110
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 8, 18, 18


def _label(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.4g}"


def chart_svg(name: str, lines: list[tuple[str, list[tuple[float, float]]]],
              width: int = WIDTH, height: int = HEIGHT) -> str:
    """One metric: ``lines`` are ``(replica, [(step, value), ...])``. Pure."""
    points = [p for _, pts in lines for p in pts]
    if not points:
        return ""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) or 1) * 0.05, y1 + (abs(y1) or 1) * 0.05
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM

    def sx(x: float) -> float:
        return PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return PAD_TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [f'<svg class="fairing-chart-metric" data-metric="{html.escape(name)}" '
             'xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'style="font:10px sans-serif;background:#fff;margin:2px 6px 2px 0">',
             f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
             'fill="none" stroke="#ddd"/>']
    last_value = lines[0][1][-1][1] if lines[0][1] else 0.0
    parts.append(f'<text x="{PAD_LEFT}" y="12" fill="#333">'
                 f'<tspan font-weight="bold">{html.escape(name)}</tspan>'
                 f' {html.escape(_label(last_value))}</text>')
    parts.append(f'<text x="{PAD_LEFT - 3}" y="{PAD_TOP + 8}" text-anchor="end" fill="#666">'
                 f'{_label(y1)}</text>')
    parts.append(f'<text x="{PAD_LEFT - 3}" y="{PAD_TOP + plot_h}" text-anchor="end" fill="#666">'
                 f'{_label(y0)}</text>')
    parts.append(f'<text x="{PAD_LEFT}" y="{height - 4}" fill="#666">{_label(x0)}</text>')
    parts.append(f'<text x="{width - PAD_RIGHT}" y="{height - 4}" text-anchor="end" fill="#666">'
                 f'{_label(x1)}</text>')
    for index, (source, pts) in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if math.isfinite(y))
        title = f"<title>{html.escape(source or name)}</title>"
        if len(pts) == 1:
            x, y = pts[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}">'
                         f'{title}</circle>')
        else:
            parts.append(f'<polyline class="fairing-chart-line" fill="none" stroke="{colour}" '
                         f'stroke-width="1.5" points="{coords}">{title}</polyline>')
    parts.append("</svg>")
    return "".join(parts)


def charts_html(series: MetricSeries) -> str:
    """Every metric's chart (at most ``MAX_CHARTS``), with a legend of replicas when several."""
    names = series.names()
    if not names:
        return ""
    sources = list(dict.fromkeys(source for _, source in series.series))
    charts = []
    for name in names[:MAX_CHARTS]:
        lines = [(source, series.points((name, source))) for source in sources
                 if (name, source) in series.series]
        charts.append(chart_svg(name, lines))
    legend = ""
    if len(sources) > 1:
        legend = "<div style='font-size:85%'>" + " ".join(
            f'<span style="color:{PALETTE[i % len(PALETTE)]}">■ {html.escape(s or "run")}</span>'
            for i, s in enumerate(sources)) + "</div>"
    more = (f"<div style='font-size:85%;color:#666'>{len(names) - MAX_CHARTS} more metrics in "
            "run.metrics</div>" if len(names) > MAX_CHARTS else "")
    return ('<div class="fairing-chart" style="display:flex;flex-wrap:wrap;align-items:flex-start">'
            + "".join(charts) + "</div>" + legend + more)
