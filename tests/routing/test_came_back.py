"""What came back from notified recipients: outcome reports (sightings carrying `x_accord_outcome`)
validated at the door, reported through the façade, the API and the CLI, counted against the score
when a false positive, and counted in the country view strictly through the policy."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from routing_helpers import ip_bundle, routed
from stix_factory import TS, ip_indicator, malware, parsed

from accord.cli import main
from accord.errors import BatchRefused, InvalidInput
from accord.intel.sightings import CORROBORATION_PER_ORG, DISPUTE_FACTOR
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import EMIT_ID, TLP
from accord.intel.validate import OUTCOMES, check_object
from accord.routing.engine import DAY_US
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

PL_NASK = "195.187.6.33"  # PL, AS8308
PL_2, PL_3, PL_4 = "195.187.6.34", "195.187.6.35", "195.187.6.36"


def sighting(of: str, outcome: Any = None, tlp: TLP = TLP.GREEN) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": TS,
        "modified": TS, "sighting_of_ref": of, "object_marking_refs": [EMIT_ID[tlp]],
    }  # fmt: skip
    if outcome is not None:
        obj["x_accord_outcome"] = outcome
    return obj


# --- outcome reports at the door ----------------------------------------------------------------------


def test_an_outcome_outside_the_list_is_refused_naming_object_and_field(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    ind = ip_indicator(PL_NASK, TLP.GREEN)
    app.submit(producer, parsed([ind]))
    good = sighting(ind["id"], "taken-down")
    # The same shape twice: the second takes the validator's cached fast path, and is checked too.
    for bad_value in ("deleted", None, ["taken-down"], "Taken-Down"):
        bad = sighting(ind["id"], "x")
        bad["x_accord_outcome"] = bad_value
        with pytest.raises(BatchRefused) as caught:
            app.submit(producer, parsed([good, bad]))
        [problem] = caught.value.problems
        assert problem.where == {"object": bad["id"], "field": "x_accord_outcome"}
        assert "'x_accord_outcome' must be one of taken-down, mitigated, false-positive" in problem.detail
    assert app.sightings(producer, ind["id"]) == []  # nothing of a refused bundle is stored
    for outcome in OUTCOMES:
        check_object(sighting(ind["id"], outcome))
    check_object(sighting(ind["id"]))  # a plain sighting has none
    app.submit(producer, parsed([good]))
    [stored] = app.sightings(producer, ind["id"])
    assert stored["outcome"] == "taken-down"


def test_outcomes_are_reported_through_the_api_and_the_cli(
    routed: Any, tmp_path: Path, database_url: str
) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    ind = ip_indicator(PL_NASK, TLP.GREEN)
    thing = malware("Grandoreiro", TLP.GREEN)
    app.submit(producer, parsed([ind, thing]))
    client = TestClient(create_asgi(app))
    admin = {"Authorization": f"Bearer {routed.token('admin@cert.pl')}"}
    made = client.post(
        f"/api/v1/objects/{ind['id']}/sightings", json={"outcome": "taken-down"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["x_accord_outcome"] == "taken-down"
    assert made.json()["sighting_of_ref"] == ind["id"]
    bad = client.post(f"/api/v1/objects/{ind['id']}/sightings", json={"outcome": "gone"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["where"]["field"] == "outcome"
    assert "outcome must be one of taken-down, mitigated" in bad.json()["detail"]
    # An outcome may be about any SDO the reporter may see; a plain sighting stays about indicators.
    on_malware = client.post(
        f"/api/v1/objects/{thing['id']}/sightings", json={"outcome": "mitigated"}, headers=admin
    )
    assert on_malware.status_code == 201
    plain = client.post(f"/api/v1/objects/{thing['id']}/sightings", json={}, headers=admin)
    assert plain.status_code == 422 and "sightings are of indicators" in plain.json()["detail"]
    listed = client.get(f"/api/v1/objects/{ind['id']}/sightings", headers=admin).json()["sightings"]
    assert [(s["reported_by"], s["outcome"]) for s in listed] == [("CERT Polska", "taken-down")]

    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(tmp_path / "data")]
    done = runner.invoke(
        main, [*base, "sighting", "add", ind["id"], "--as", "analyst@cert.pl", "--outcome", "false-positive",
               "--tlp", "green"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["x_accord_outcome"] == "false-positive"
    wrong = runner.invoke(
        main, [*base, "sighting", "add", ind["id"], "--as", "analyst@cert.pl", "--outcome", "x"]
    )
    assert wrong.exit_code == 2 and "'x' is not one of 'taken-down', 'mitigated'" in wrong.output
    # An SCO cannot be sighted in STIX 2.1: the error says what to do instead.
    sco = {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{uuid.uuid4()}", "value": PL_2,
           "object_marking_refs": [EMIT_ID[TLP.GREEN]]}  # fmt: skip
    app.submit(producer, parsed([sco]))
    with pytest.raises(InvalidInput, match="report on the indicator that names the value"):
        app.report_sighting(routed.viewer("admin@cert.pl"), sco["id"], outcome="taken-down")


def test_a_false_positive_counts_against_the_score(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    fresh = format_micros(now_micros() - 1000)
    ind = ip_indicator(PL_NASK, TLP.GREEN, confidence=80, created=fresh, modified=fresh, valid_from=fresh)
    app.submit(producer, parsed([ind]))
    before = app.score(producer, ind["id"])["score"]
    assert before == 80
    app.report_sighting(routed.viewer("admin@cert.br"), ind["id"], tlp=TLP.GREEN)
    seen = app.score(producer, ind["id"])
    assert seen["score"] == round(before * (1 + CORROBORATION_PER_ORG))
    app.report_sighting(routed.viewer("admin@cert.pl"), ind["id"], outcome="false-positive", tlp=TLP.GREEN)
    disputed = app.score(producer, ind["id"])
    # CERT Polska's report does not corroborate; it halves the score.
    assert disputed["components"]["reporting_organisations"] == ["CERT.br"]
    assert disputed["components"]["false_positive_organisations"] == ["CERT Polska"]
    assert disputed["score"] == round(before * (1 + CORROBORATION_PER_ORG) * DISPUTE_FACTOR)
    assert any("false positive" in line and "× 0.5 each" in line for line in disputed["explanation"])
    assert "× 0.500 =" in disputed["explanation"][-1]
    # A take-down report corroborates like a sighting.
    app.report_sighting(routed.viewer("p@producer.example"), ind["id"], outcome="taken-down", tlp=TLP.GREEN)
    assert app.score(producer, ind["id"])["components"]["reporting_organisations"] == ["CERT.br", "Producer"]


# --- the country view's came_back, through the policy ---------------------------------------------------


def test_came_back_counts_only_what_the_viewer_may_see(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    polska, brazil = routed.viewer("analyst@cert.pl"), routed.viewer("admin@cert.br")
    telecom = routed.user("noc@telecom.pl", "Telecom", "analyst")
    assert telecom
    [green] = [o for _i, o, _r in ip_bundle([PL_NASK], TLP.GREEN)]
    app.submit(producer, parsed([green]))
    share = app.resolve_share(producer, ["org:CERT Polska"])
    amber_bundle = ip_bundle([PL_2], TLP.AMBER)
    [amber] = [o for _i, o, _r in amber_bundle]
    app.submit(producer, amber_bundle, share=share)
    unrouted = ip_indicator(PL_3, TLP.GREEN)  # stored after routing: never notified
    app.route_new_objects()
    app.submit(producer, parsed([unrouted]))

    noc = routed.viewer("noc@telecom.pl")
    # GREEN: every vetted member sees it; AMBER: the reporter and the object's producer alone.
    app.report_sighting(noc, green["id"], outcome="taken-down", tlp=TLP.GREEN)
    app.report_sighting(noc, green["id"], tlp=TLP.AMBER)
    app.report_sighting(
        polska, amber["id"], outcome="mitigated", tlp=TLP.GREEN
    )  # CERT.br may not see the object
    app.report_sighting(polska, green["id"], outcome="false-positive", tlp=TLP.AMBER)
    app.report_sighting(polska, unrouted["id"], outcome="taken-down", tlp=TLP.GREEN)  # never notified

    def came_back(viewer: Any) -> dict[str, Any]:
        return dict(app.country_view(viewer, "PL")["came_back"])

    zero = dict.fromkeys(OUTCOMES, 0)
    mine = came_back(polska)
    assert mine["sightings"] == 0
    assert mine["outcomes"] == {**zero, "taken-down": 1, "mitigated": 1, "false-positive": 1}
    assert [(r["value"], r["outcome"], r["reported_by"]) for r in mine["recent"]] == [
        (PL_NASK, "false-positive", "CERT Polska"),
        (PL_2, "mitigated", "CERT Polska"),
        (PL_NASK, "taken-down", "Telecom"),
    ]  # newest first
    assert {r["stix_id"] for r in mine["recent"]} == {green["id"], amber["id"]}
    assert all(r["when"].endswith("Z") for r in mine["recent"])
    theirs = came_back(brazil)  # neither the AMBER sightings nor anything about the AMBER object
    assert theirs == {"sightings": 0, "outcomes": {**zero, "taken-down": 1}, "recent": [theirs["recent"][0]]}
    assert theirs["recent"][0]["reported_by"] == "Telecom"
    producers = came_back(producer)  # the producer sees the AMBER reports shared with it
    assert producers["sightings"] == 1 and producers["outcomes"]["false-positive"] == 1
    assert came_back(noc)["sightings"] == 1 and came_back(noc)["outcomes"]["false-positive"] == 0
    # Another country's view has none of it; nor has a window after the reports.
    assert app.country_view(polska, "BR")["came_back"] == {"sightings": 0, "outcomes": zero, "recent": []}
    later = app.routing.country_view(polska, "PL", days=1, now_us=now_micros() + 2 * DAY_US)
    assert later["came_back"]["outcomes"] == zero


def test_who_was_notified_is_withheld_from_those_who_may_not_read_the_directory(routed: Any) -> None:
    app = routed.app
    routed.org("Pending", "business", "PL", pending=True)
    routed.user("x@pending.example", "Pending", "analyst")
    app.submit(routed.viewer("p@producer.example"), ip_bundle([PL_4], TLP.CLEAR))
    app.route_new_objects()
    shown = app.country_view(routed.viewer("analyst@cert.pl"), "PL")["notified"]
    assert "CERT Polska incident desk" in {n["name"] for n in shown}
    pending = app.country_view(routed.viewer("x@pending.example"), "PL")
    assert pending["abused"] == 1  # CLEAR counts for a pending organisation...
    withheld = {(n["name"], n["recipient"]) for n in pending["notified"]}
    assert pending["notified"] and withheld == {(None, None)}
    assert sum(n["values"] for n in pending["notified"]) == sum(n["values"] for n in shown)
    client = TestClient(create_asgi(app))
    admin = {"Authorization": f"Bearer {routed.token('admin@cert.pl')}"}
    view = client.get("/api/v1/countries/PL", headers=admin)
    assert set(view.json()["came_back"]) == {"sightings", "outcomes", "recent"}
