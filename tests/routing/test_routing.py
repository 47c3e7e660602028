"""Routing end to end: stored objects -> enrichment -> contacts and rules -> policy -> outbox rows."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

from typing import Any

import orjson
import pytest
from routing_helpers import ip_bundle, routed
from sqlalchemy import func, select
from stix_factory import indicator, parsed

from accord.db.schema import abuse_count, abuse_count_pending, notification, routing_cursor
from accord.intel.tlp import TLP
from accord.intel.warninglists import Warninglist
from accord.members.model import OPERATOR
from accord.routing.outbox import interval_start

pytestmark = pytest.mark.store

PL_NASK = "195.187.6.33"  # PL, AS8308, abuse@nask.pl
PL_WP = "212.77.98.9"  # PL, AS12827 (a curated abuse desk covers it)
BR_NIC = "200.160.2.3"  # BR, AS22548, no abuse mailbox in the data
US_GOOGLE = "8.8.8.8"  # US, AS15169, network-abuse@google.com
NASK = "NAUKOWA I AKADEMICKA SIEC KOMPUTEROWA - PANSTWOWY INSTYTUT BADAWCZY"


def _rows(app: Any) -> list[Any]:
    with app.db.read() as conn:
        return conn.execute(select(notification).order_by(notification.c.id)).all()


def _by_recipient(app: Any) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for r in _rows(app):
        out.setdefault(r.recipient, []).extend(orjson.loads(r.entries))
    return out


def _values(app: Any) -> dict[str, set[str]]:
    return {k: {it[0] for it in v} for k, v in _by_recipient(app).items()}


def _counted(app: Any) -> int:
    """All abuse counts: those folded and those pending."""
    with app.db.read() as conn:
        return sum(
            conn.execute(select(func.coalesce(func.sum(t.c.value_count), 0))).scalar_one()
            for t in (abuse_count, abuse_count_pending)
        )


def _key(app: Any, name: str) -> str:
    return next(f"contact:{c['id']}" for c in app.contacts(OPERATOR) if c["name"] == name)


def test_default_rule_sends_each_country_to_its_cert_and_the_network_abuse_desk(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK, PL_WP, BR_NIC, US_GOOGLE], TLP.CLEAR))
    report = app.route_new_objects()
    assert report["values"] == 4 and report["batches"] == 1
    got = _values(app)
    assert got[_key(app, "CERT Polska incident desk")] == {PL_NASK, PL_WP}
    assert got[_key(app, "CERT.br")] == {BR_NIC}
    # Abuse desks: the curated entry for AS12827 wins over the data's mailbox; the others are automatic.
    assert got[_key(app, "WP abuse desk")] == {PL_WP}
    assert got["abuse:abuse@nask.pl"] == {PL_NASK}
    assert got["abuse:network-abuse@google.com"] == {US_GOOGLE}
    assert "abuse:abuse@grupawp.pl" not in got
    # The law-enforcement contact point is not in the default rule.
    assert _key(app, "Policja 24/7") not in got
    row = next(r for r in _rows(app) if r.recipient == "abuse:network-abuse@google.com")
    assert (row.status, row.attempts, row.channel, row.format, row.address) == (
        "queued", 0, "email", "xarf", "network-abuse@google.com",
    )  # fmt: skip
    assert row.next_attempt_us == row.interval_us + 3600 * 1_000_000
    assert row.countries == ",US,"
    [entry] = orjson.loads(row.entries)
    assert entry[:4] == [US_GOOGLE, "ipv4", "US", 15169] and entry[5] == "default"
    cert_br = next(r for r in _rows(app) if r.name == "CERT.br")
    assert cert_br.format == "csv" and cert_br.org_id == routed.orgs["CERT.br"]


def test_amber_reaches_only_organisations_the_policy_lets_see_it(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    # AMBER shared with CERT Polska only: CERT Polska's contact gets it; nobody else does, not the
    # outside abuse desks, not CERT.br.
    share = app.resolve_share(producer, ["org:CERT Polska"])
    app.submit(producer, ip_bundle([PL_NASK, BR_NIC], TLP.AMBER), share=share)
    # AMBER for another organisation (the producer alone): nobody.
    app.submit(producer, ip_bundle([PL_WP], TLP.AMBER))
    # GREEN: members (the CERTs) but no one outside the alliance.
    app.submit(producer, ip_bundle([US_GOOGLE, "212.77.98.10"], TLP.GREEN))
    app.route_new_objects()
    got = _values(app)
    assert got[_key(app, "CERT Polska incident desk")] == {PL_NASK, "212.77.98.10"}
    assert _key(app, "CERT.br") not in got  # its value was AMBER for CERT Polska only
    assert not any(k.startswith("abuse:") for k in got)
    assert _key(app, "WP abuse desk") not in got


def test_the_policy_decides_through_its_own_viewer(routed: Any) -> None:
    """What a recipient gets agrees with policy.visible for its organisation's viewer."""
    from accord.routing.engine import Recipient, recipient_viewer

    app = routed.app
    producer = routed.viewer("p@producer.example")
    share = app.resolve_share(producer, ["org:CERT Polska"])
    app.submit(producer, ip_bundle([PL_NASK], TLP.AMBER), share=share)
    recipient = Recipient(
        "contact:1", 1, routed.orgs["CERT.br"], True, "csirt", "x", "csirt", "email", "xarf", "", True
    )
    with app.db.read() as conn:
        from accord.db.schema import stix_object

        polish = recipient_viewer(
            Recipient(
                "contact:2",
                2,
                routed.orgs["CERT Polska"],
                True,
                "csirt",
                "y",
                "csirt",
                "email",
                "xarf",
                "",
                True,
            )
        )
        assert conn.execute(select(stix_object.c.pk).where(app.policy.visible(polish))).first() is not None
        assert (
            conn.execute(
                select(stix_object.c.pk).where(app.policy.visible(recipient_viewer(recipient)))
            ).first()
            is None
        )


def test_red_and_warninglisted_values_are_never_routed(routed: Any) -> None:
    app = routed.app
    app.load_warninglists(
        [Warninglist(name="resolvers", version=1, description="", type="string", entries=(US_GOOGLE,),
                     kinds=frozenset({"ipv4"}), category="false-positive")]
    )  # fmt: skip
    producer = routed.viewer("p@producer.example")
    share = app.resolve_share(producer, ["user:admin@cert.pl"])
    app.submit(producer, ip_bundle([PL_NASK], TLP.RED), share=share)
    app.submit(producer, ip_bundle([US_GOOGLE], TLP.CLEAR))
    report = app.route_new_objects()
    assert report["values"] == 0
    assert _rows(app) == []
    with app.db.read() as conn:
        assert conn.execute(select(abuse_count)).all() == []
        assert conn.execute(select(abuse_count_pending)).all() == []


def test_the_cursor_routes_each_object_once_and_values_once_per_interval(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK, BR_NIC], TLP.GREEN))
    first = app.route_new_objects()
    assert first["notifications"] == 2
    assert app.route_new_objects()["batches"] == 0  # nothing new past the cursor
    # The same value again in another object, same interval: not written again; a new one is.
    app.submit(producer, ip_bundle([PL_NASK, "195.187.6.34"], TLP.GREEN))
    second = app.route_new_objects()
    assert second["values"] == 2 and second["items"] == 1
    rows = [r for r in _rows(app) if r.recipient == _key(app, "CERT Polska incident desk")]
    assert [r.seq for r in rows] == [0, 1]
    assert [orjson.loads(r.entries)[0][0] for r in rows] == [PL_NASK, "195.187.6.34"]
    with app.db.read() as conn:
        cursor = conn.execute(select(routing_cursor.c.last_pk)).scalar_one()
    assert cursor == app.routing.cursor() > 0
    # A new interval: a value seen in the last one is written again (a new notification).
    app.submit(producer, ip_bundle([PL_NASK], TLP.GREEN, name="again"))
    report = app.routing.route_new(now_us=interval_start(rows[0].interval_us) + 2 * 3600 * 1_000_000)
    assert report["items"] == 1


def test_batches_are_transactions_and_a_failure_keeps_the_cursor(routed: Any, monkeypatch: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    for i in range(5):
        app.submit(producer, ip_bundle([f"195.187.6.{i}"], TLP.GREEN))
    report = app.routing.route_new(batch_objects=2)
    assert report["batches"] == 3 and report["values"] == 5
    assert len(_values(app)[_key(app, "CERT Polska incident desk")]) == 5

    app.submit(producer, ip_bundle(["195.187.6.99"], TLP.GREEN))
    before = app.routing.cursor()
    from accord.routing import outbox

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(outbox.Outbox, "insert", broken)
    with pytest.raises(RuntimeError):
        app.routing.route_new()
    monkeypatch.undo()
    assert app.routing.cursor() == before
    counted = _counted(app)
    assert counted == 5  # the failed batch added nothing
    assert app.routing.route_new()["items"] >= 1


def test_a_batch_another_process_routed_meanwhile_is_dropped_not_routed_twice(
    routed: Any, monkeypatch: Any
) -> None:
    """A batch is routed while the previous one is written; its own write checks the cursor under
    the row lock. If another router moved the cursor meanwhile, what was routed past it is dropped,
    and each value is counted and queued once."""
    from accord.routing.engine import Router
    from accord.routing.service import Routing

    app = routed.app
    producer = routed.viewer("p@producer.example")
    values = [f"195.187.6.{i}" for i in range(6)]
    for value in values:
        app.submit(producer, ip_bundle([value], TLP.GREEN))
    other = Routing(app.db, app.policy, enricher=lambda: app.routing.enricher)
    real_route = Router.route
    calls: list[int] = []
    others: list[dict[str, Any]] = []

    def route(self: Router, conn: Any, batch: Any) -> Any:
        calls.append(len(batch))
        if len(calls) == 2 and not others:  # while batch 1 is written: another router takes the rest
            others.append(other.route_new(batch_objects=2))
        return real_route(self, conn, batch)

    monkeypatch.setattr(Router, "route", route)
    report = app.routing.route_new(batch_objects=2)
    monkeypatch.undo()
    assert others and others[0]["values"] == 4  # the other router took batches 2 and 3
    assert report["batches"] == 1 and report["values"] == 2  # this one wrote batch 1 only
    assert report["cursor"] == others[0]["cursor"] == app.routing.cursor()
    got = _by_recipient(app)[_key(app, "CERT Polska incident desk")]
    assert sorted(e[0] for e in got) == sorted(values)  # each value once
    counted = _counted(app)
    assert counted == 6
    assert app.routing.route_new()["batches"] == 0


def test_rules_by_country_type_tlp_severity_confidence_and_sector(routed: Any) -> None:
    app = routed.app
    app.set_rule_enabled(OPERATOR, "default", False)
    app.save_rule(
        OPERATOR, "serious PL to police",
        {"countries": ["PL"], "types": ["indicator"], "tlp": ["clear", "green"], "min_severity": "high",
         "min_confidence": 60},
        {"kinds": ["law-enforcement"]},
    )  # fmt: skip
    app.save_rule(
        OPERATOR, "csirt sector only", {"asns": [22548]}, {"kinds": ["csirt"], "sectors": ["business"]}
    )
    producer = routed.viewer("p@producer.example")
    objs = [
        indicator(f"[ipv4-addr:value = '{PL_NASK}']", TLP.CLEAR, labels=["severity:high"], confidence=80),
        indicator("[ipv4-addr:value = '195.187.6.40']", TLP.CLEAR, labels=["severity:low"], confidence=80),
        indicator("[ipv4-addr:value = '195.187.6.41']", TLP.CLEAR, x_severity="critical", confidence=10),
        indicator("[ipv4-addr:value = '195.187.6.42']", TLP.AMBER, x_severity="critical", confidence=90),
        indicator(f"[ipv4-addr:value = '{BR_NIC}']", TLP.CLEAR, x_severity="critical", confidence=90),
    ]
    app.submit(producer, parsed(objs))
    app.route_new_objects()
    got = _values(app)
    # Only the high-severity, confident, CLEAR Polish value (the police contact is outside the alliance,
    # so the policy gives it CLEAR only; the AMBER one also fails the rule's TLP); CERT.br's sector is
    # csirt, not business.
    assert got == {_key(app, "Policja 24/7"): {PL_NASK}}


def test_an_organisation_subscribes_with_its_own_rule(routed: Any) -> None:
    app = routed.app
    admin = routed.viewer("admin@cert.br")
    # CERT.br also wants Polish infrastructure, to its own contact; a rule naming another's contact fails.
    from accord.errors import Forbidden

    with pytest.raises(Forbidden):
        app.save_rule(admin, "steal", {"countries": ["PL"]}, {"contacts": ["CERT Polska incident desk"]})
    app.save_rule(admin, "CERT.br watches PL", {"countries": ["PL"]}, {"contacts": ["CERT.br"]})
    # An org rule naming a kind still reaches only the organisation's own contacts.
    app.save_rule(admin, "CERT.br kinds", {"countries": ["US"]}, {"kinds": ["abuse", "csirt"]})
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK, US_GOOGLE], TLP.GREEN))
    app.route_new_objects()
    got = _values(app)
    assert got[_key(app, "CERT.br")] == {PL_NASK}
    assert got[_key(app, "CERT Polska incident desk")] == {PL_NASK}
    assert [r["name"] for r in app.routing_rules(admin)] == ["CERT.br kinds", "CERT.br watches PL", "default"]


def test_domains_and_urls_route_by_cctld_and_domain_suffix(routed: Any) -> None:
    app = routed.app
    app.add_contact(
        OPERATOR,
        {"name": "Bank CSIRT", "kind": "csirt", "domains": ["bank.example"], "email": "csirt@bank.example"},
    )
    producer = routed.viewer("p@producer.example")
    objs = [
        indicator("[domain-name:value = 'phish.example.pl']", TLP.CLEAR),
        indicator("[url:value = 'https://login.bank.example/steal']", TLP.CLEAR),
        indicator("[url:value = 'http://200.160.2.3/x']", TLP.CLEAR),
        indicator("[file:hashes.'SHA-256' = '" + "a" * 64 + "']", TLP.CLEAR),
    ]
    app.submit(producer, parsed(objs))
    report = app.route_new_objects()
    assert report["values"] == 3  # the hash names no infrastructure
    got = _values(app)
    assert got[_key(app, "CERT Polska incident desk")] == {"phish.example.pl"}
    assert got[_key(app, "Bank CSIRT")] == {"https://login.bank.example/steal"}
    assert got[_key(app, "CERT.br")] == {"http://200.160.2.3/x"}


def test_disabled_contacts_get_nothing(routed: Any) -> None:
    app = routed.app
    cid = next(c["id"] for c in app.contacts(OPERATOR) if c["name"] == "CERT.br")
    app.update_contact(OPERATOR, cid, {"enabled": False})
    app.submit(routed.viewer("p@producer.example"), ip_bundle([BR_NIC], TLP.GREEN))
    app.route_new_objects()
    assert _rows(app) == []


def test_counts_are_appended_per_batch_and_folded_once_their_day_is_over(routed: Any) -> None:
    """Each batch appends its counts; the first run on a later day folds them into one row per key
    (adding to a row already folded), and the country view counts the same throughout."""
    from accord.intel.timestamps import now_micros
    from accord.routing.engine import DAY_US

    app = routed.app
    producer = routed.viewer("p@producer.example")
    polska = routed.viewer("analyst@cert.pl")
    for value in (PL_NASK, "195.187.6.34", "195.187.6.35"):
        app.submit(producer, ip_bundle([value], TLP.GREEN))

    def nask(table: Any) -> list[int]:
        with app.db.read() as conn:
            return sorted(conn.execute(select(table.c.value_count).where(table.c.asn == 8308)).scalars())

    def abused() -> int:
        return int(app.routing.country_view(polska, "PL")["abused"])

    assert app.routing.route_new(batch_objects=2)["counts_folded"] == 0  # today's stay pending
    assert nask(abuse_count_pending) == [1, 2] and nask(abuse_count) == []
    assert abused() == 3
    tomorrow = now_micros() + DAY_US
    assert app.routing.route_new(now_us=tomorrow)["counts_folded"] == 2
    assert nask(abuse_count_pending) == [] and nask(abuse_count) == [3]
    assert abused() == 3
    app.submit(producer, ip_bundle(["195.187.6.36"], TLP.GREEN))
    app.routing.route_new(now_us=tomorrow)
    assert nask(abuse_count_pending) == [] and nask(abuse_count) == [4]
    assert abused() == 4 and _counted(app) == 4


def test_two_folds_at_once_move_each_pending_count_once(routed: Any) -> None:
    """Two processes folding at the same moment take turns on the cursor's row lock: every pending
    count ends in abuse_count once, whichever fold moved it."""
    import threading

    from accord.db import bulk_insert
    from accord.routing.service import _COUNT_COLUMNS, Routing

    app = routed.app
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK], TLP.GREEN))
    app.route_new_objects()  # makes the cursor's row, and an audience to count under
    with app.db.read() as conn:
        audience = conn.execute(select(abuse_count_pending.c.audience_id)).scalar_one()
    pending = [(1, "PL", 8308 + i % 3, "ipv4", audience, None, 1 + i) for i in range(300)]
    with app.db.write() as conn:
        bulk_insert(conn, abuse_count_pending, _COUNT_COLUMNS, pending)
    routers = [Routing(app.db, app.policy, enricher=lambda: app.routing.enricher) for _ in range(2)]
    start = threading.Barrier(2)
    folded: list[int] = []

    def fold(router: Routing) -> None:
        start.wait()
        folded.append(router.fold_counts())

    threads = [threading.Thread(target=fold, args=(r,)) for r in routers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(folded) == [0, 301]  # one fold took them all (the routed one of today too)
    with app.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(abuse_count_pending)).scalar_one() == 0
        got = dict(
            conn.execute(
                select(abuse_count.c.asn, abuse_count.c.value_count).where(abuse_count.c.day == 1)
            ).all()
        )
    assert got == {a: sum(r[6] for r in pending if r[2] == a) for a in (8308, 8309, 8310)}


def test_country_view_and_ranking_through_the_policy(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK, "195.187.6.34", PL_WP], TLP.GREEN))
    share = app.resolve_share(producer, ["org:CERT Polska"])
    app.submit(producer, ip_bundle(["195.187.6.35", BR_NIC], TLP.AMBER), share=share)
    app.route_new_objects()
    polska = routed.viewer("analyst@cert.pl")
    brazil = routed.viewer("admin@cert.br")
    view = app.country_view(polska, "pl")
    assert view["country"] == "PL" and view["abused"] == 4
    assert view["by_asn"][0] == {"asn": 8308, "operator": NASK, "values": 3}
    assert sum(d["values"] for d in view["trend"]) == 4
    names = {n["name"]: n for n in view["notified"]}
    assert names["CERT Polska incident desk"]["values"] == 4
    assert names["CERT Polska incident desk"]["queued"] == 4
    # CERT.br may not see the AMBER objects shared with CERT Polska: it counts 3 and sees 3 notified.
    other = app.country_view(brazil, "PL")
    assert other["abused"] == 3
    assert {n["name"]: n["values"] for n in other["notified"]}["CERT Polska incident desk"] == 3
    assert app.country_view(brazil, "BR")["abused"] == 0
    notes = app.notifications(brazil, country="PL")
    assert all("195.187.6.35" not in [i["value"] for i in n["items"]] for n in notes)
    # The ranking: abused IPv4 addresses per million of the country's address space (counted per /16
    # here, to be quick; per /24 by default).
    from accord.routing import service

    app.routing.space_step_bits = 16
    space = service.address_space(app.routing.enricher, None, step_bits=16)
    assert space["US"] > space["PL"] > space["BR"] / 100 > 0
    ranking = app.country_ranking(polska)
    assert ranking[0]["country"] == "PL" and ranking[0]["rank"] == 1
    pl = next(r for r in ranking if r["country"] == "PL")
    assert pl["ipv4"] == 4 and pl["per_million"] == round(4 * 1_000_000 / space["PL"], 3)
    with pytest.raises(Exception, match="unknown country"):
        app.country_view(polska, "XX")
