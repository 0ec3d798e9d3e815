"""Self-contained SVG charts (no CDN, no JavaScript) shared by the HTML report and the dashboard.

Text and axes use ``currentColor`` so a chart follows the page's light or dark theme; every
chart has a ``<title>`` and per-mark ``<title>`` tooltips for screen readers.
"""

from __future__ import annotations

import itertools
import math
from html import escape
from typing import Any

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(w: float, h: float, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" role="img" '
        f'aria-label="{escape(title)}" {FONT} fill="currentColor"><title>{escape(title)}</title>{body}</svg>'
    )


def _fmt(v: float | None, nd: int = 1) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{nd}f}"


def ink(t: float) -> str:
    """Text colour readable on :func:`heat_color` (t)."""
    return "#fff" if t > 0.62 else "#111"


def heat_color(t: float) -> str:
    """Sequential colour (pale yellow -> red) for t in [0, 1]; colour-blind safe enough (YlOrRd)."""
    stops = ((255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    c = [round(a + (b - a) * f) for a, b in zip(stops[i], stops[i + 1], strict=True)]
    return f"rgb({c[0]},{c[1]},{c[2]})"


def bars(
    items: list[tuple[str, float, float | None, float | None]], title: str, unit: str, width: int = 720
) -> str:
    """Horizontal bars with optional whiskers (lo, hi): label, value, lo, hi."""
    if not items:
        return _svg(width, 40, title, '<text x="8" y="24">no data</text>')
    label_w, row = 250, 22
    h = 30 + row * len(items) + 24
    vmax = max(max(v, hi or 0) for _l, v, _lo, hi in items) or 1.0
    sx = (width - label_w - 70) / vmax
    out = [f'<text x="8" y="16" font-weight="600">{escape(title)}</text>']
    for i, (label, v, lo, hi) in enumerate(items):
        y = 30 + i * row
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:38])}</text>')
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(v * sx, 0.5):.1f}" height="{row - 8}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {_fmt(v, 2)} {escape(unit)}</title></rect>"
        )
        if lo is not None and hi is not None:
            yy = y + row / 2 - 1
            out.append(
                f'<line x1="{label_w + lo * sx:.1f}" x2="{label_w + hi * sx:.1f}" y1="{yy}" y2="{yy}" '
                f'stroke="currentColor" stroke-width="1.5"/>'
            )
        out.append(f'<text x="{label_w + max(v, hi or 0) * sx + 6:.1f}" y="{y + 14}">{_fmt(v)}</text>')
    out.append(f'<text x="{label_w}" y="{h - 6}" opacity=".7">{escape(unit)}</text>')
    return _svg(width, h, title, "".join(out))


def heatmap(rows: list[str], cols: list[str], values: list[list[float | None]], title: str, unit: str) -> str:
    label_w, cw, ch = 250, 24, 20
    w = label_w + cw * len(cols) + 20
    h = 40 + ch * len(rows) + 30
    finite = [v for r in values for v in r if v is not None]
    vmax = max(finite) if finite else 1.0
    out = [f'<text x="8" y="16" font-weight="600">{escape(title)} ({escape(unit)}; max {_fmt(vmax)})</text>']
    for j, c in enumerate(cols):
        out.append(
            f'<text x="{label_w + j * cw + cw / 2}" y="34" text-anchor="middle" font-size="10">{escape(c)}</text>'
        )
    for i, r in enumerate(rows):
        y = 40 + i * ch
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(r[:38])}</text>')
        for j, v in enumerate(values[i]):
            fill = "none" if v is None else heat_color(v / vmax if vmax else 0)
            out.append(
                f'<rect x="{label_w + j * cw}" y="{y}" width="{cw - 1}" height="{ch - 1}" fill="{fill}" '
                f'stroke="currentColor" stroke-opacity=".08"><title>{escape(r)}, {escape(cols[j])}: '
                f"{_fmt(v, 2)} {escape(unit)}</title></rect>"
            )
    return _svg(w, h, title, "".join(out))


def histogram(edges_min: tuple[int, ...], counts: list[int], title: str) -> str:
    labels = [f"{a}-{b}" for a, b in itertools.pairwise(edges_min)] + [f"{edges_min[-1]}+"]
    return bars(
        [(f"{lb} min", float(c), None, None) for lb, c in zip(labels, counts, strict=True)],
        title,
        "visits",
        520,
    )


def forest(rows: list[tuple[str, float | None, float | None, float | None]], title: str, unit: str) -> str:
    """Differences with 95 % CIs around a zero line (what-if minus baseline)."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return _svg(720, 40, title, '<text x="8" y="24">no data</text>')
    label_w, row, width = 250, 22, 720
    vals = [abs(x) for _l, m, lo, hi in rows for x in (m, lo, hi) if x is not None]
    span = max(vals) or 1.0
    x0 = label_w + (width - label_w - 20) / 2
    sx = (width - label_w - 40) / 2 / span
    h = 34 + row * len(rows) + 24
    out = [
        f'<text x="8" y="16" font-weight="600">{escape(title)}</text>',
        f'<line x1="{x0}" x2="{x0}" y1="26" y2="{h - 20}" stroke="currentColor" stroke-opacity=".5"/>',
    ]
    for i, (label, m, lo, hi) in enumerate(rows):
        y = 34 + i * row + row / 2
        good = hi is not None and hi < 0
        bad = lo is not None and lo > 0
        col = PALETTE[2] if good else PALETTE[3] if bad else "currentColor"
        out.append(f'<text x="{label_w - 6}" y="{y + 4}" text-anchor="end">{escape(label[:38])}</text>')
        if lo is not None and hi is not None:
            out.append(
                f'<line x1="{x0 + lo * sx:.1f}" x2="{x0 + hi * sx:.1f}" y1="{y}" y2="{y}" stroke="{col}" stroke-width="2"/>'
            )
        out.append(
            f'<circle cx="{x0 + (m or 0) * sx:.1f}" cy="{y}" r="4" fill="{col}"><title>{escape(label)}: '
            f"{_fmt(m, 2)} [{_fmt(lo, 2)}, {_fmt(hi, 2)}] {escape(unit)}</title></circle>"
        )
    out.append(
        f'<text x="{x0}" y="{h - 6}" text-anchor="middle" opacity=".7">0 ({escape(unit)}; left = better)</text>'
    )
    return _svg(width, h, title, "".join(out))


def process_map(dfg: dict[str, Any], waits: dict[str, float], max_edges: int = 40) -> str:
    """Directly-follows graph laid out left to right by mean position in the journey.

    Node colour: mean waiting before the activity; edge width: frequency; edge label: count and
    mean waiting between the two activities.
    """
    nodes = {n["activity"]: n for n in dfg["nodes"]}
    pos = {a: (n.get("position") or 1.0) for a, n in nodes.items()}
    start_end = {"▶": 0.0, "■": max(pos.values(), default=1) + 1}
    pos.update(start_end)
    cols: dict[int, list[str]] = {}
    for a in sorted(pos, key=lambda x: (pos[x], -nodes.get(x, {}).get("count", 0))):
        cols.setdefault(round(pos[a] * 1.0), []).append(a)
    col_keys = sorted(cols)
    nw, nh, gx, gy = 170, 40, 56, 26
    xy: dict[str, tuple[float, float]] = {}
    tallest = max(len(v) for v in cols.values())
    for ci, k in enumerate(col_keys):
        col = cols[k]
        off = (tallest - len(col)) * (nh + gy) / 2
        for ri, a in enumerate(col):
            xy[a] = (20 + ci * (nw + gx), 40 + off + ri * (nh + gy))
    w = 40 + len(col_keys) * (nw + gx)
    h = 60 + tallest * (nh + gy)
    edges = sorted(dfg["edges"], key=lambda e: -e["count"])[:max_edges]
    cmax = max((e["count"] for e in edges), default=1)
    wmax = max([v for v in waits.values() if v] or [1.0])
    out = [
        '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" orient="auto" '
        'markerUnits="userSpaceOnUse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="currentColor" fill-opacity=".6"/></marker></defs>',
        '<text x="8" y="16" font-weight="600">Process map (directly-follows graph; colour = mean waiting, width = journeys)</text>',
    ]
    for e in edges:
        if e["from"] not in xy or e["to"] not in xy:
            continue
        (x1, y1), (x2, y2) = xy[e["from"]], xy[e["to"]]
        sw = 1 + 7 * math.sqrt(e["count"] / cmax)
        if x2 > x1:
            ax, ay, bx, by = x1 + nw, y1 + nh / 2, x2, y2 + nh / 2
            d = f"M{ax},{ay} C{ax + gx / 2},{ay} {bx - gx / 2},{by} {bx},{by}"
        else:  # backwards or same column: loop below
            ax, ay, bx, by = x1 + nw / 2, y1 + nh, x2 + nw / 2, y2 + nh
            d = f"M{ax},{ay} C{ax},{ay + 60} {bx},{by + 60} {bx},{by}"
        wm = e.get("wait_mean_min")
        tip = f"{e['from']} → {e['to']}: {e['count']:,} journeys" + (
            f", mean wait {wm:.1f} min" if wm is not None else ""
        )
        out.append(
            f'<path d="{d}" fill="none" stroke="currentColor" stroke-opacity=".35" stroke-width="{sw:.1f}" '
            f'marker-end="url(#arr)"><title>{escape(tip)}</title></path>'
        )
    for a, (x, y) in xy.items():
        n = nodes.get(a)
        wv = waits.get(a)
        fill = heat_color((wv or 0) / wmax) if n else "#999"
        txt = ink((wv or 0) / wmax) if n else "#fff"
        label = a if len(a) <= 24 else a[:23] + "…"
        sub = (
            f"{n['count']:,} · wait {wv:.1f} min"
            if n and wv is not None
            else (f"{n['count']:,}" if n else "")
        )
        out.append(
            f"<g><title>{escape(a)}{': ' + escape(sub) if sub else ''}</title>"
            f'<rect x="{x}" y="{y}" width="{nw}" height="{nh}" rx="6" fill="{fill}" stroke="currentColor" stroke-opacity=".4"/>'
            f'<text x="{x + nw / 2}" y="{y + 16}" text-anchor="middle" fill="{txt}" font-size="12" font-weight="600">{escape(label)}</text>'
            f'<text x="{x + nw / 2}" y="{y + 31}" text-anchor="middle" fill="{txt}" font-size="11">{escape(sub)}</text></g>'
        )
    return _svg(w, h, "Process map", "".join(out))
