"""Charts and the world map, drawn on the server as SVG geometry that templates/_charts.html turns
into markup: no script, no inline style (colours are CSS classes), every label in the reader's
language and every number written the reader's way.

The map is Natural Earth's 1:110m countries (vendored from npm `world-atlas`, see
data/world-atlas/README.md) in the Equal Earth projection, with dots for the territories too small
for that scale (Singapore, Hong Kong, Malta …), where much infrastructure sits.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from babel.core import get_global
from babel.dates import format_skeleton

from accord.ui.i18n import N_, Language

ATLAS = Path(__file__).resolve().parent / "data" / "world-atlas"
MAP_WIDTH = 1000.0
MAP_LEVELS = 5  # colour steps for counts above zero
SERIES_SHOWN = 6  # a chart shows its largest series, the rest together as "other"
OTHER = "other"
KOSOVO = "XK"  # in the registries' data, but not in CLDR's numeric aliases
LEFT_OUT = {"010"}  # Antarctica: much height, no infrastructure to speak of

# --- the world map -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    code: str | None  # ISO 3166-1 alpha-2; None for areas without one (N. Cyprus, Somaliland)
    d: str  # the SVG path


@dataclass(frozen=True)
class World:
    width: float
    height: float
    shapes: tuple[Shape, ...]
    dots: tuple[tuple[str, float, float], ...]  # (code, x, y) of small territories


def _equal_earth(lon: float, lat: float) -> tuple[float, float]:
    """Šavrič, Patterson and Jenny's Equal Earth projection (2018), unit sphere."""
    a1, a2, a3, a4 = 1.340264, -0.081106, 0.000893, 0.003796
    m = math.sqrt(3) / 2
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(m * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (m * (a1 + 3 * a2 * t2 + t6 * (7 * a3 + 9 * a4 * t2)))
    y = theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))
    return x, y


_X_MAX = _equal_earth(180, 0)[0]


def _decode_arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs (quantised, delta-encoded) as (longitude, latitude) points."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _across_the_antimeridian(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A ring that crosses ±180° (Russia, Fiji) made continuous on the side where most of it lies,
    then held at the map's edge: the part beyond is folded onto the edge (a sliver at this scale)."""
    unwrapped = [ring[0]]
    for lon, lat in ring[1:]:
        previous = unwrapped[-1][0]
        while lon - previous > 180:
            lon -= 360
        while lon - previous < -180:
            lon += 360
        unwrapped.append((lon, lat))
    mean = sum(lon for lon, _ in unwrapped) / len(unwrapped)
    shift = -360 if mean > 180 else 360 if mean < -180 else 0
    return [(min(180.0, max(-180.0, lon + shift)), lat) for lon, lat in unwrapped]


@functools.lru_cache(maxsize=1)
def world() -> World:
    """The map, projected and scaled to MAP_WIDTH (read once per process)."""
    topo = json.loads((ATLAS / "countries-110m.json").read_text(encoding="utf-8"))
    small = json.loads((ATLAS / "small-territories.json").read_text(encoding="utf-8"))
    aliases: Mapping[str, list[str]] = get_global("territory_aliases")
    arcs = _decode_arcs(topo)
    scale = MAP_WIDTH / (2 * _X_MAX)

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return (point[0] + _X_MAX) * scale, -point[1] * scale

    shapes: list[tuple[str | None, list[list[tuple[float, float]]]]] = []
    for geometry in topo["objects"]["countries"]["geometries"]:
        numeric = geometry.get("id")
        if numeric in LEFT_OUT:
            continue
        code = aliases[numeric][0] if numeric in aliases else None
        if numeric is None and geometry.get("properties", {}).get("name") == "Kosovo":
            code = KOSOVO
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        rings = []
        for polygon in polygons:
            for ring in polygon:
                points: list[tuple[float, float]] = []
                for i in ring:
                    arc = arcs[i] if i >= 0 else arcs[~i][::-1]
                    points.extend(arc if not points else arc[1:])
                rings.append([at(_equal_earth(*p)) for p in _across_the_antimeridian(points)])
        shapes.append((code, rings))
    dots = [(code, *at(_equal_earth(lon, lat))) for code, (lon, lat) in small.items()]
    top = min(min(y for ring in rings for _, y in ring) for _, rings in shapes)
    bottom = max(max(y for ring in rings for _, y in ring) for _, rings in shapes)
    pad = 4.0
    shift = pad - top

    def path(rings: list[list[tuple[float, float]]]) -> str:
        """Rings as compact path data: half-unit steps, relative moves, repeated points dropped."""
        parts = []
        for ring in rings:
            points: list[tuple[float, float]] = []
            for x, y in ring:
                q = (round(x * 2) / 2, round((y + shift) * 2) / 2)
                if not points or points[-1] != q:
                    points.append(q)
            if len(points) < 3:
                continue
            steps = [f"{b[0] - a[0]:g} {b[1] - a[1]:g}" for a, b in itertools.pairwise(points)]
            parts.append(f"M{points[0][0]:g} {points[0][1]:g}l" + " ".join(steps) + "z")
        return "".join(parts)

    return World(
        width=MAP_WIDTH,
        height=round(bottom - top + 2 * pad, 1),
        shapes=tuple(Shape(code, path(rings)) for code, rings in shapes),
        dots=tuple((code, round(x, 1), round(y + shift, 1)) for code, x, y in dots),
    )


@dataclass(frozen=True)
class MapArea:
    d: str | None  # a shape, or None for a dot at (x, y)
    x: float
    y: float
    level: int  # 0: nothing counted; 1..MAP_LEVELS
    title: str


@dataclass(frozen=True)
class MapView:
    width: float
    height: float
    areas: list[MapArea]
    legend: list[tuple[int, str]]  # (level, range of counts)


def map_view(counts: dict[str, int], lang: Language) -> MapView:
    """The map coloured by `counts` per country (steps on a logarithmic scale up to the largest)."""
    w = world()
    top = max(counts.values(), default=0)
    breaks = [top ** (i / MAP_LEVELS) for i in range(1, MAP_LEVELS)] if top > 1 else []

    def level(n: int) -> int:
        if n <= 0:
            return 0
        return 1 + sum(n > b for b in breaks) if breaks else MAP_LEVELS

    def title(code: str | None) -> str:
        if code is None:
            return ""
        n = counts.get(code, 0)
        return f"{country_name(code, lang)}: {lang.number(n)}"

    areas = [MapArea(s.d, 0, 0, level(counts.get(s.code or "", 0)), title(s.code)) for s in w.shapes]
    # Small territories: a dot only where something is counted (else the map is peppered with them).
    areas += [MapArea(None, x, y, level(counts[c]), title(c)) for c, x, y in w.dots if counts.get(c)]
    legend: list[tuple[int, str]] = []
    if top:
        edges = [0.0, *breaks, float(top)]
        for i in range(1, len(edges)):
            lo, hi = math.floor(edges[i - 1]) + 1, math.floor(edges[i])
            if hi >= lo:
                label = lang.number(lo) if lo == hi else f"{lang.number(lo)}–{lang.number(hi)}"
                legend.append((i if breaks else MAP_LEVELS, label))
    return MapView(w.width, w.height, areas, legend)


def _significant(value: float, digits: int = 2) -> float:
    """`value` rounded to `digits` significant digits (legend edges: 0.0123 -> 0.012, 1234 -> 1200)."""
    return round(value, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0.0


def rate_map_view(rates: Mapping[str, float | None], lang: Language, unit: str) -> MapView:
    """The map coloured by a rate per country (abused addresses per million, say), which may be a
    fraction: steps on a logarithmic scale from the smallest rate above zero to the largest. `unit` is
    a translated text with `%(value)s` ("%(value)s per million") that titles each country."""
    positive = {code: float(v) for code, v in rates.items() if v}
    lo, hi = min(positive.values(), default=0.0), max(positive.values(), default=0.0)
    breaks = [lo * (hi / lo) ** (i / MAP_LEVELS) for i in range(1, MAP_LEVELS)] if hi > lo else []

    def level(code: str | None) -> int:
        v = positive.get(code or "", 0.0)
        if v <= 0:
            return 0
        return 1 + sum(v > b for b in breaks) if breaks else MAP_LEVELS

    def title(code: str | None) -> str:
        if code is None:
            return ""
        return f"{country_name(code, lang)}: {unit % {'value': lang.number(positive.get(code, 0))}}"

    w = world()
    areas = [MapArea(s.d, 0, 0, level(s.code), title(s.code)) for s in w.shapes]
    areas += [MapArea(None, x, y, level(c), title(c)) for c, x, y in w.dots if c in positive]
    legend: list[tuple[int, str]] = []
    if breaks:
        edges = [lo, *breaks, hi]
        for i in range(1, len(edges)):
            low, high = lang.number(_significant(edges[i - 1])), lang.number(_significant(edges[i]))
            legend.append((i, low if low == high else f"{low}–{high}"))
    elif positive:
        legend.append((MAP_LEVELS, lang.number(hi)))
    return MapView(w.width, w.height, areas, legend)


def country_name(code: str, lang: Language) -> str:
    """The country's name in the reader's language (CLDR), else its code."""
    return str(lang.locale.territories.get(code) or code)


# --- stacked column charts ---------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 52.0, 8.0, 10.0, 26.0
X_LABELS = 6


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


@dataclass
class Chart:
    id: str
    title: str
    summary: str
    width: float = CHART_WIDTH
    height: float = CHART_HEIGHT
    plot: tuple[float, float, float, float] = (LEFT, TOP, CHART_WIDTH - RIGHT, CHART_HEIGHT - BOTTOM)
    segments: list[Segment] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (css class, label, total)
    empty: bool = True


def _nice_top(value: int) -> tuple[int, int]:
    """A round upper bound for the axis and its step (1, 2 or 5 times a power of ten)."""
    if value <= 4:
        return 4, 1
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return int(step * math.ceil(value / step)), int(step)


def stacked_columns(
    chart_id: str,
    title: str,
    buckets: Sequence[date],
    series: dict[str, list[int]],
    *,
    label: Callable[[str], str],
    css: Callable[[str, int], str],
    lang: Language,
) -> Chart:
    """Columns over time, one per bucket, stacked by series: the largest SERIES_SHOWN series by name
    (`label`), the rest as "Other"; `css(key, rank)` picks each series' colour class."""
    ranked = sorted(series, key=lambda k: (-sum(series[k]), k))
    shown, rest = ranked[:SERIES_SHOWN], ranked[SERIES_SHOWN:]
    if len(rest) == 1:
        shown, rest = ranked, []
    columns: dict[str, list[int]] = {k: series[k] for k in shown}
    if rest:
        columns[OTHER] = [sum(series[k][i] for k in rest) for i in range(len(buckets))]
    names = {k: label(k) for k in shown}
    names[OTHER] = lang.gettext(N_("Other"))
    classes = {k: css(k, rank) for rank, k in enumerate(shown)}
    classes[OTHER] = "fill-other"

    total = sum(sum(v) for v in columns.values())
    top_total = max((sum(v[i] for v in columns.values()) for i in range(len(buckets))), default=0)
    axis_top, step = _nice_top(top_total)
    left, top, right, bottom = LEFT, TOP, CHART_WIDTH - RIGHT, CHART_HEIGHT - BOTTOM
    slot = (right - left) / max(len(buckets), 1)
    width = max(slot * 0.8, 1.0)
    per_unit = (bottom - top) / axis_top
    chart = Chart(
        id=chart_id,
        title=title,
        summary=lang.gettext(N_("%(count)s objects in all")) % {"count": lang.number(total)},
        empty=total == 0,
    )
    for i, day in enumerate(buckets):
        y = bottom
        when = format_skeleton("yMMMd", day, locale=lang.locale)
        for key, values in columns.items():
            n = values[i]
            if n:
                h = n * per_unit
                y -= h
                chart.segments.append(
                    Segment(
                        round(left + i * slot + (slot - width) / 2, 1), round(y, 1), round(width, 1),
                        round(h, 1), classes[key], f"{when} · {names[key]}: {lang.number(n)}",
                    )
                )  # fmt: skip
    chart.y_ticks = [(round(bottom - v * per_unit, 1), lang.number(v)) for v in range(0, axis_top + 1, step)]
    every = max(1, math.ceil(len(buckets) / X_LABELS))
    chart.x_labels = [
        (round(left + i * slot + slot / 2, 1), format_skeleton("MMMd", day, locale=lang.locale))
        for i, day in enumerate(buckets)
        if i % every == 0
    ]
    chart.legend = [(classes[k], names[k], lang.number(sum(columns[k]))) for k in columns if sum(columns[k])]
    return chart
