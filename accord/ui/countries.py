"""The country view: the alliance-wide ranking of countries by abused infrastructure (/ui/countries)
and one country's page (/ui/countries/{cc}): what is abused there by kind, by day and by network,
who was told, and what came back.

Both read through the `Accord` façade (`country_ranking`, `country_view`), which counts only the
audiences the policy lets the viewer read, so two viewers may see different numbers for the same
country; the JSON twin is what /api/v1/countries answers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from fastapi import Request
from fastapi.responses import Response

from accord.errors import InvalidInput, NotFound
from accord.routing.countries import country_code
from accord.ui.charts import Chart, country_name, rate_map_view, stacked_columns
from accord.ui.i18n import N_, Language
from accord.ui.render import page, render, request_language, ui_router, wants_json
from accord.web.api import POLICY, AppDep, MemberDep

router = ui_router()

PERIODS = (7, 30, 90)  # days a country page or the ranking may cover
KIND_LABELS = {  # what routing counts (accord.routing.rules.KIND_VALUES)
    "ipv4": N_("IPv4 addresses"),
    "ipv6": N_("IPv6 addresses"),
    "domain": N_("Domains"),
    "url": N_("URLs"),
}
CHANNEL_LABELS = {  # accord.routing.contacts.CHANNELS
    "email": N_("E-mail"),
    "webhook": N_("Webhook"),
    "taxii": N_("TAXII collection"),
}
OUTCOME_LABELS = {  # what a recipient reports back about a notified value
    "sighting": N_("Sighting"),
    "taken-down": N_("Taken down"),
    "mitigated": N_("Mitigated"),
    "false-positive": N_("False positive"),
    "not-responsible": N_("Not responsible"),
}
PER_MILLION = N_("%(value)s per million IPv4 addresses")


def _days(days: int) -> int:
    if days not in PERIODS:
        raise InvalidInput(f"days must be one of {', '.join(map(str, PERIODS))}", field="days")
    return days


@router.get("/countries", openapi_extra=POLICY)
def ranking(request: Request, viewer: MemberDep, app: AppDep, days: int = 30) -> Response:
    """Countries ranked by abused IPv4 addresses per million addresses of their space, with a map;
    `?format=json` gives what /api/v1/countries does."""
    ranked = app.country_ranking(viewer, days=_days(days))
    data = {"days": days, "countries": ranked}
    lang = request_language(request)
    rates = {r["country"]: r["per_million"] for r in ranked}
    extra = {
        "names": {r["country"]: country_name(r["country"], lang) for r in ranked},
        "world": rate_map_view(rates, lang, lang.gettext(PER_MILLION)),
        "periods": PERIODS,
        "kinds": KIND_LABELS,
    }
    return page(request, "countries.html", data, extra=extra, section="countries")


def _trend(data: dict[str, Any], lang: Language) -> Chart:
    """Abused values per day over the period (days without any are drawn as empty columns)."""
    first = date.fromisoformat(data["since"][:10])
    buckets = [first + timedelta(days=i) for i in range(data["days"])]
    per_day = {d["day"]: d["values"] for d in data["trend"]}
    values = [per_day.get(b.isoformat(), 0) for b in buckets]
    chart = stacked_columns(
        "chart-trend",
        lang.gettext(N_("Abused values per day")),
        buckets,
        {"values": values},
        label=lambda _k: lang.gettext(N_("Abused values")),
        css=lambda _k, rank: f"fill-s{rank}",
        lang=lang,
    )
    chart.summary = lang.gettext(N_("%(count)s values in all")) % {"count": lang.number(sum(values))}
    return chart


@router.get("/countries/{cc}", openapi_extra=POLICY)
def country(request: Request, cc: str, viewer: MemberDep, app: AppDep, days: int = 30) -> Response:
    """One country: abused infrastructure by kind, day and network, who was notified and what came
    back; `?format=json` gives what /api/v1/countries/{cc} does."""
    code = country_code(cc) if len(cc) == 2 else None
    lang = request_language(request)
    if code is None:
        if wants_json(request):
            raise NotFound(f"unknown country {cc[:10]!r} (want an ISO 3166-1 alpha-2 code)", field="country")
        detail = lang.gettext(N_("There is no country with the code %(code)s.")) % {"code": cc[:10]}
        problem = {"status": 404, "title": N_("Unknown country"), "detail": detail}
        return render(request, "error.html", problem, status=404, section="countries")
    data = app.country_view(viewer, code, days=_days(days))
    extra = {
        "name": country_name(code, lang),
        "since_day": format_date(date.fromisoformat(data["since"][:10]), "long", locale=lang.locale),
        "trend_chart": _trend(data, lang),
        "periods": PERIODS,
        "kinds": KIND_LABELS,
        "channels": CHANNEL_LABELS,
        "outcomes": OUTCOME_LABELS,
        # Rendered when the service reports it (an older one does not): never an error.
        "came_back": data.get("came_back"),
    }
    return page(request, "country.html", data, extra=extra, section="countries")
