"""The dashboard (the start page, /ui/): what is new for the viewer, overlaps with its
organisation's intelligence, sightings of its indicators, intelligence over time by TLP, type,
sector and country, and where the infrastructure named in it sits, on a world map.

Everything is read through the `Accord` façade, so through the policy: nothing the viewer may not
see is listed or counted. The charts and the map (a group-by over the period, an enrichment of every
visible address) are kept per viewer for CACHE_SECONDS; the lists are read on every request.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from accord.app import Accord
from accord.errors import InvalidInput
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.members.model import Sector, Viewer
from accord.ui.charts import Chart, country_name, map_view, stacked_columns
from accord.ui.i18n import N_, Language
from accord.ui.render import page, request_language, ui_router, ui_state
from accord.web.api import POLICY, AppDep, MemberDep

router = ui_router()

DAY_US = 86_400_000_000
PERIODS = (7, 30, 90, 365)  # days the charts may cover
NEW_DAYS = 7  # "new for me": added in the last week
NEW_SHOWN = 10
OVERLAP_DAYS = 30
LISTED = 20
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 500
TLP_ORDER = ["clear", "green", "amber", "amber+strict", "red", "none"]
SECTOR_LABELS = {
    Sector.GOVERNMENT.value: N_("Government"),
    Sector.LAW_ENFORCEMENT.value: N_("Law enforcement"),
    Sector.BUSINESS.value: N_("Business"),
    Sector.CSIRT.value: N_("CSIRT"),
    Sector.INTERNATIONAL.value: N_("International"),
}
MATCH_LABELS = {  # how an overlap matched (accord.intel.overlaps.MATCHES)
    "equal": N_("the same value"),
    "cidr": N_("inside a known network"),
    "subdomain": N_("a subdomain of a known domain"),
    "url-host": N_("the host of a URL"),
    "email-domain": N_("the domain of an e-mail address"),
}
DIMENSIONS = {  # what activity rows are counted by, and the chart's title
    "tlp": N_("By TLP"),
    "type": N_("By type"),
    "sector": N_("By producer's sector"),
    "country": N_("By producer's country"),
}


def _period(days: int, now_us: int) -> tuple[int, int, list[date]]:
    """(since, bucket width, first day of each bucket): days for up to a month, weeks beyond."""
    bucket_days = 1 if days <= 31 else 7
    count = math.ceil(days / bucket_days)
    tomorrow = (now_us // DAY_US + 1) * DAY_US
    since = tomorrow - count * bucket_days * DAY_US
    first = datetime.fromtimestamp(since / 1_000_000, UTC).date()
    return since, bucket_days * DAY_US, [first + timedelta(days=i * bucket_days) for i in range(count)]


def _series(rows: list[dict[str, Any]], key: str, buckets: int) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for r in rows:
        values = out.setdefault(str(r[key]), [0] * buckets)
        if 0 <= r["bucket"] < buckets:
            values[r["bucket"]] += r["n"]
    if key == "tlp":  # TLP in its own order, not by size
        out = {k: out[k] for k in TLP_ORDER if k in out}
    return out


def _cached(request: Request, key: tuple[Any, ...], make: Any) -> Any:
    """`make()`, kept for CACHE_SECONDS under `key` (which names the viewer: never shared)."""
    cache: dict[tuple[Any, ...], tuple[float, Any]] = ui_state(request).dashboard_cache
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = make()
    if len(cache) >= CACHE_ENTRIES:
        for stale in [k for k, (t, _) in cache.items() if now - t >= CACHE_SECONDS] or list(cache)[:1]:
            cache.pop(stale, None)
    cache[key] = (now, value)
    return value


def _viewer_key(viewer: Viewer) -> tuple[Any, ...]:
    """Who the policy sees: the user, acting for one organisation, vetted or not."""
    return (viewer.user_id, viewer.org_id, viewer.org_vetted, viewer.role, viewer.email)


def dashboard_data(request: Request, app: Accord, viewer: Viewer, days: int) -> dict[str, Any]:
    """What the dashboard shows, as the JSON twin gives it."""
    now = now_micros()
    since, bucket_us, buckets = _period(days, now)
    who = _viewer_key(viewer)

    def activity() -> dict[str, dict[str, list[int]]]:
        rows = app.activity(viewer, since_us=since, bucket_us=bucket_us)
        return {f"by_{d}": _series(rows, d, len(buckets)) for d in DIMENSIONS}

    new_since = now - NEW_DAYS * DAY_US
    return {
        "new": {**app.newest(viewer, since_us=new_since, limit=NEW_SHOWN), "since": format_micros(new_since)},
        "overlaps": app.overlaps(viewer, since_us=now - OVERLAP_DAYS * DAY_US, limit=LISTED, mine=True),
        "sightings": app.sightings_of_mine(viewer, limit=LISTED),
        "period": {
            "days": days,
            "since": format_micros(since),
            "bucket_days": bucket_us // DAY_US,
            "buckets": [b.isoformat() for b in buckets],
        },
        "activity": _cached(request, ("activity", days, since, *who), activity),
        "infrastructure": _cached(request, ("map", *who), lambda: app.infrastructure_countries(viewer)),
    }


def _charts(data: dict[str, Any], lang: Language) -> list[Chart]:
    buckets = [date.fromisoformat(b) for b in data["period"]["buckets"]]
    tlp_names = {t.value: t.label for t in TLP}

    def tlp_css(key: str, _rank: int) -> str:
        return "fill-tlp-" + key.replace("+", "-")

    def rank_css(_key: str, rank: int) -> str:
        return f"fill-s{rank}"

    how = {
        "tlp": (lambda k: tlp_names.get(k) or lang.gettext(N_("no TLP")), tlp_css),
        "type": (lambda k: k, rank_css),
        "sector": (lambda k: lang.gettext(SECTOR_LABELS[k]) if k in SECTOR_LABELS else k, rank_css),
        "country": (lambda k: country_name(k, lang), rank_css),
    }
    return [
        stacked_columns(
            f"chart-{dim}",
            lang.gettext(title),
            buckets,
            data["activity"][f"by_{dim}"],
            label=how[dim][0],
            css=how[dim][1],
            lang=lang,
        )
        for dim, title in DIMENSIONS.items()
    ]


@router.get("/", openapi_extra=POLICY)
def dashboard(request: Request, viewer: MemberDep, app: AppDep, days: int = 30) -> Response:
    """The start page; `?format=json` gives the same data."""
    if days not in PERIODS:
        raise InvalidInput(f"days must be one of {', '.join(map(str, PERIODS))}", field="days")
    data = dashboard_data(request, app, viewer, days)
    lang = request_language(request)
    countries = data["infrastructure"]["countries"]
    extra = {
        "charts": _charts(data, lang),
        "world": map_view(countries, lang),
        "country_names": {code: country_name(code, lang) for code in countries},
        "periods": PERIODS,
        "match_labels": MATCH_LABELS,
        "new_since_day": data["new"]["since"][:10],
    }
    return page(request, "dashboard.html", data, extra=extra, section="dashboard")
