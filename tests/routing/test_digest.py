"""Daily digests per country: subscriptions (who may make them, bad input), the digest as each
recipient may see it, queued once per subscription and day whatever the worker does, and delivered
end to end to a real SMTP server (STARTTLS, PGP) and a real webhook receiver through the outbox."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from delivery_helpers import Hook, decrypt, parts, pgp_pair, smtp_server, webhook_receiver
from fastapi.testclient import TestClient
from routing_helpers import ip_bundle, routed
from sqlalchemy import select, update

from accord.cli import main
from accord.db.schema import digest_subscription, notification
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.intel.validate import OUTCOMES
from accord.members.model import OPERATOR
from accord.routing.delivery import sign
from accord.routing.digest import outside_viewer, parse_day
from accord.routing.engine import DAY_US
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

PL_CLEAR, PL_AMBER, PL_HIDDEN = "195.187.6.33", "195.187.6.34", "195.187.6.35"  # PL, AS8308
S = 1_000_000


def today() -> int:
    return now_micros() // DAY_US * DAY_US


def digest_rows(app: Any) -> list[Any]:
    with app.db.read() as conn:
        return conn.execute(
            select(notification).where(notification.c.recipient.like("digest:%")).order_by(notification.c.id)
        ).all()


def sender(make_accord: Any, **settings: Any) -> Any:
    """Another Accord on the same database, as a second worker process would be."""
    return make_accord(smtp_from="accord@north.example", node_name="north", **settings)


def store_pl(world: Any) -> dict[str, Any]:
    """A CLEAR value, an AMBER one shared with CERT Polska and an AMBER one for the producer alone,
    all in PL, routed today; CERT Polska reports the AMBER one taken down."""
    app = world.app
    producer = world.viewer("p@producer.example")
    clear = ip_bundle([PL_CLEAR], TLP.CLEAR)
    app.submit(producer, clear)
    amber = ip_bundle([PL_AMBER], TLP.AMBER)
    app.submit(producer, amber, share=app.resolve_share(producer, ["org:CERT Polska"]))
    app.submit(producer, ip_bundle([PL_HIDDEN], TLP.AMBER))
    app.route_new_objects()
    app.report_sighting(world.viewer("analyst@cert.pl"), amber[0][1]["id"], outcome="taken-down")
    return {"clear": clear[0][1], "amber": amber[0][1]}


# --- subscriptions ----------------------------------------------------------------------------------------


def test_who_may_subscribe_and_bad_input_gets_a_clear_error(routed: Any) -> None:
    app = routed.app
    pl_admin, br_admin = routed.viewer("admin@cert.pl"), routed.viewer("admin@cert.br")
    made = app.subscribe_digest(pl_admin, "pl", "CERT Polska incident desk")
    assert (made["country"], made["contact"], made["org"], made["channel"], made["last"]) == (
        "PL", "CERT Polska incident desk", "CERT Polska", "email", None,
    )  # fmt: skip
    with pytest.raises(Conflict, match="subscribed to the digest of PL already"):
        app.subscribe_digest(pl_admin, "PL", "CERT Polska incident desk")
    with pytest.raises(Forbidden):  # another organisation's contact point
        app.subscribe_digest(br_admin, "PL", "CERT Polska incident desk")
    with pytest.raises(Forbidden):  # an analyst manages no contact points
        app.subscribe_digest(routed.viewer("analyst@cert.pl"), "BR", "CERT Polska incident desk")
    with pytest.raises(Forbidden):  # a contact outside the alliance is the operator's
        app.subscribe_digest(pl_admin, "PL", "Policja 24/7")
    with pytest.raises(InvalidInput, match="unknown country 'XX'") as bad:
        app.subscribe_digest(pl_admin, "XX", "CERT Polska incident desk")
    assert bad.value.where["field"] == "country"
    with pytest.raises(NotFound, match="no contact point 'Nobody'"):
        app.subscribe_digest(pl_admin, "PL", "Nobody")
    app.add_contact(OPERATOR, {"name": "PL feed", "kind": "csirt", "org": "CERT Polska", "countries": "PL",
                               "channel": "taxii", "url": "https://taxii.cert.pl/"})  # fmt: skip
    with pytest.raises(InvalidInput, match="a digest goes by e-mail or webhook") as bad:
        app.subscribe_digest(pl_admin, "PL", "PL feed")
    assert bad.value.where["field"] == "contact"
    app.subscribe_digest(OPERATOR, "PL", "Policja 24/7")
    # Members see their organisation's subscriptions; the operator sees all.
    assert [d["contact"] for d in app.digest_subscriptions(pl_admin)] == ["CERT Polska incident desk"]
    assert app.digest_subscriptions(br_admin) == []
    assert len(app.digest_subscriptions(OPERATOR)) == 2
    with pytest.raises(Forbidden):
        app.unsubscribe_digest(br_admin, made["id"])
    with pytest.raises(NotFound, match="not subscribed to the digest of BR"):
        app.unsubscribe_digest(pl_admin, country="BR", contact="CERT Polska incident desk")
    app.unsubscribe_digest(pl_admin, country="PL", contact="CERT Polska incident desk")
    assert app.digest_subscriptions(pl_admin) == []
    # Days: YYYY-MM-DD, UTC, not to come; default yesterday.
    now = now_micros()
    assert parse_day(None, now) == today() - DAY_US
    for text, message in (("2026-13-01", "is not a date"), ("yesterday", "is not a date"),
                          ("20261128", "is not a date"), ("1969-12-31", "before 1970")):  # fmt: skip
        with pytest.raises(InvalidInput, match=message) as bad:
            app.digest(pl_admin, "PL", text)
        assert bad.value.where["field"] == "day"
    tomorrow = format_micros(today() + DAY_US)[:10]
    with pytest.raises(InvalidInput, match="has not begun yet"):
        app.digest(pl_admin, "PL", tomorrow)
    with pytest.raises(InvalidInput, match="unknown country"):
        app.digest(pl_admin, "ZZ", None)


def test_the_same_subscription_made_twice_at_once_is_made_once(routed: Any) -> None:
    """The second of two identical subscriptions in flight together gets the same clear conflict as
    one made later: on SQLite it waits for the writer lock, on PostgreSQL for the first one's key."""
    from accord.intel.timestamps import now_micros
    from accord.routing import digest

    app = routed.app
    pl_admin = routed.viewer("admin@cert.pl")
    outcome: list[Any] = []

    def second() -> None:
        try:
            outcome.append(app.subscribe_digest(pl_admin, "PL", "CERT Polska incident desk"))
        except Exception as exc:  # the test looks at what it was
            outcome.append(exc)

    thread = threading.Thread(target=second)
    with app.db.write() as conn:
        first = digest.subscribe(
            conn, pl_admin, "PL", "CERT Polska incident desk", now_us=now_micros(), audit_key=app.audit_key
        )
        thread.start()
        time.sleep(0.5)  # the second is waiting for this transaction
    thread.join(30)
    [got] = outcome
    assert isinstance(got, Conflict) and "subscribed to the digest of PL already" in str(got), repr(got)
    assert [s["id"] for s in app.digest_subscriptions(pl_admin)] == [first["id"]]


def test_subscriptions_and_the_digest_over_http(routed: Any) -> None:
    app = routed.app
    store_pl(routed)
    client = TestClient(create_asgi(app))
    admin = {"Authorization": f"Bearer {routed.token('admin@cert.pl')}"}
    brazil = {"Authorization": f"Bearer {routed.token('admin@cert.br')}"}
    day = format_micros(today())[:10]
    mine = client.get(f"/api/v1/countries/pl/digest?day={day}", headers=admin)
    assert mine.status_code == 200, mine.text
    theirs = client.get(f"/api/v1/countries/PL/digest?day={day}", headers=brazil).json()
    assert (mine.json()["day"], mine.json()["abused"], theirs["abused"]) == (day, 2, 1)
    assert mine.json()["came_back"]["outcomes"]["taken-down"] == 1
    assert theirs["came_back"]["outcomes"]["taken-down"] == 0  # a report about an object it may not see
    yesterday = client.get("/api/v1/countries/PL/digest", headers=admin).json()
    assert yesterday["abused"] == 0 and yesterday["day"] == format_micros(today() - DAY_US)[:10]
    bad = client.get("/api/v1/countries/PL/digest?day=2026-02-30", headers=admin)
    assert bad.status_code == 422 and bad.json()["where"]["field"] == "day"
    assert client.get("/api/v1/countries/XX/digest", headers=admin).status_code == 422
    assert client.get("/api/v1/countries/PL/digest").status_code == 401

    desk = {"country": "PL", "contact": "CERT Polska incident desk"}
    made = client.post("/api/v1/routing/digests", json=desk, headers=admin)
    assert made.status_code == 201, made.text
    refused = client.post("/api/v1/routing/digests", json=desk, headers=brazil)
    assert refused.status_code == 403
    unknown = client.post(
        "/api/v1/routing/digests", json={"country": "PL", "contact": "Nobody"}, headers=admin
    )
    assert unknown.status_code == 404 and "no contact point 'Nobody'" in unknown.json()["detail"]
    extra = client.post(
        "/api/v1/routing/digests", json={"country": "PL", "contact": "x", "y": 1}, headers=admin
    )
    assert extra.status_code == 422
    listed = client.get("/api/v1/routing/digests", headers=admin).json()["digests"]
    assert [d["id"] for d in listed] == [made.json()["id"]]
    assert client.get("/api/v1/routing/digests", headers=brazil).json()["digests"] == []
    assert client.delete(f"/api/v1/routing/digests/{made.json()['id']}", headers=brazil).status_code == 403
    assert client.delete(f"/api/v1/routing/digests/{made.json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/routing/digests/{made.json()['id']}", headers=admin).status_code == 404


# --- queued once, delivered end to end ------------------------------------------------------------------


def test_digest_is_mailed_once_over_starttls_pgp_in_the_contacts_language(
    routed: Any, make_accord: Any, tmp_path: Path
) -> None:
    app = routed.app
    private, public = pgp_pair("digest@cert.pl")
    app.add_contact(OPERATOR, {"name": "CERT Polska digest", "kind": "csirt", "org": "CERT Polska",
                               "email": "digest@cert.pl", "languages": "de,fr",
                               "pgp_key": public})  # fmt: skip
    sub = app.subscribe_digest(routed.viewer("admin@cert.pl"), "PL", "CERT Polska digest")
    objects = store_pl(routed)
    day = format_micros(today())[:10]
    tomorrow = today() + DAY_US + 60 * S
    assert app.queue_digests(now_us=today() + 3600 * S) == []  # the day is not over
    assert app.queue_digests(now_us=tomorrow) == [(sub["id"], day)]
    assert app.queue_digests(now_us=tomorrow + S) == []  # the worker runs again: nothing more
    # A worker that died after queueing (and lost track of it) queues nothing twice: the row's key is
    # the subscription and the day.
    with app.db.write() as conn:
        conn.execute(update(digest_subscription).values(last_day=None))
    assert sender(make_accord).queue_digests(now_us=tomorrow + 2 * S) == []
    [row] = digest_rows(app)
    assert (row.status, row.interval_us, row.seq, row.entries) == ("queued", today(), 0, "[]")
    with smtp_server(tmp_path, starttls=True) as (port, inbox, ca):
        s = sender(make_accord, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls="required",
                   smtp_ca_file=str(ca))  # fmt: skip
        first = s.deliver_notifications(now_us=tomorrow + 3 * S)
        again = s.deliver_notifications(now_us=tomorrow + 4 * S)
        s.queue_digests(now_us=tomorrow + 5 * S)
        assert s.deliver_notifications(now_us=tomorrow + 6 * S)["sent"] == 0
    [row] = digest_rows(app)
    assert row.status == "sent" and row.ticket in first["tickets"] and row.ticket not in again["tickets"]
    digests = [m for m in inbox.mails if m.rcpt_tos == ["digest@cert.pl"]]
    assert len(digests) == 1 and digests[0].tls
    outer = digests[0].message
    assert PL_AMBER.encode() not in digests[0].content  # encrypted to the contact's key
    assert outer["X-Accord-Ticket"] == row.ticket and outer["Message-ID"] == f"<{row.ticket}@north.example>"
    assert outer["Subject"] == f"Synthèse quotidienne Accord PL {day} : 2 élément(s) malveillant(s)"
    text, name, data, ctype = parts(decrypt(private, outer))
    assert (
        text.startswith("TLP:AMBER+STRICT") and "Voici la synthèse quotidienne du nœud Accord north" in text
    )
    assert "neutralisés 1" in text and "AS8308" in text
    assert (name, ctype) == (f"digest-PL-{day}.json", "application/json")
    doc = json.loads(data)
    assert (doc["type"], doc["country"], doc["day"], doc["ticket"], doc["tlp"]) == (
        "accord-daily-digest", "PL", day, row.ticket, "amber+strict",
    )  # fmt: skip
    body = doc["digest"]
    # What CERT Polska may see: the CLEAR value and the AMBER one shared with it, never the third.
    assert body["abused"] == 2 and body["by_asn"][0]["asn"] == 8308
    assert body == json.loads(json.dumps(app.digest(routed.viewer("admin@cert.pl"), "PL", day)))
    assert body["came_back"]["recent"] == [
        {"stix_id": objects["amber"]["id"], "value": PL_AMBER, "outcome": "taken-down",
         "reported_by": "CERT Polska", "when": body["came_back"]["recent"][0]["when"]}
    ]  # fmt: skip
    listed = app.digest_subscriptions(OPERATOR)[0]["last"]
    assert (listed["day"], listed["status"], listed["ticket"]) == (day, "sent", row.ticket)


def test_digest_webhook_is_signed_retried_and_accepted_once(routed: Any, make_accord: Any) -> None:
    app = routed.app
    with webhook_receiver(Hook(answers=[500])) as hook:
        cid = app.add_contact(OPERATOR, {"name": "CERT.br hook", "kind": "csirt", "org": "CERT.br",
                                         "channel": "webhook", "url": hook.url})["id"]  # fmt: skip
        app.subscribe_digest(routed.viewer("admin@cert.br"), "PL", "CERT.br hook")
        store_pl(routed)
        when = today() + DAY_US + 60 * S
        workers = [sender(make_accord, feed_allow_networks="127.0.0.1/32") for _ in range(2)]
        for w in workers:  # two workers, each queueing and delivering
            w.queue_digests(now_us=when)
        assert workers[0].deliver_notifications(now_us=when)["failed"] == 1
        [row] = digest_rows(app)
        assert (row.status, row.attempts) == ("queued", 1)
        assert row.last_error == f"webhook {hook.url} answered HTTP 500 Internal Server Error"
        assert row.next_attempt_us == when + 60 * S  # back-off
        assert workers[1].deliver_notifications(now_us=when + 30 * S)["sent"] == 0  # not due yet
        assert workers[1].deliver_notifications(now_us=when + 61 * S)["sent"] == 1
        for w in workers:
            w.queue_digests(now_us=when + 120 * S)
            assert w.deliver_notifications(now_us=when + 120 * S)["sent"] == 0
    (failed_headers, _), (headers, body) = hook.received
    [row] = digest_rows(app)
    assert (
        row.status == "sent" and failed_headers["x-accord-ticket"] == headers["x-accord-ticket"] == row.ticket
    )
    secret = app.webhook_secret(OPERATOR, cid)["secret"]
    assert headers["x-accord-signature"] == sign(secret, body)
    doc = json.loads(body)
    assert (doc["type"], doc["country"], doc["recipient"], doc["tlp"]) == (
        "accord-daily-digest", "PL", "CERT.br hook", "amber+strict",
    )  # fmt: skip
    # CERT.br's view: only the CLEAR value, and nothing came back that it may see.
    assert doc["digest"]["abused"] == 1
    assert doc["digest"]["came_back"] == {
        "sightings": 0,
        "outcomes": dict.fromkeys(OUTCOMES, 0),
        "recent": [],
    }


def test_outside_contacts_get_clear_only_and_no_directory_and_quiet_days_are_sent(
    routed: Any, make_accord: Any
) -> None:
    app = routed.app
    app.subscribe_digest(OPERATOR, "PL", "Policja 24/7")  # outside the alliance
    app.subscribe_digest(OPERATOR, "NZ", "Policja 24/7")  # a country with nothing
    store_pl(routed)
    day = format_micros(today())[:10]
    with smtp_server() as (port, inbox, _ca):
        s = sender(make_accord, smtp_host="127.0.0.1", smtp_port=port)
        s.queue_digests(now_us=today() + DAY_US)
        s.deliver_notifications(now_us=today() + DAY_US)
    mails = {m.message["Subject"]: m.message for m in inbox.mails if m.rcpt_tos == ["247@policja.example"]}
    assert set(mails) == {f"Accord daily digest PL {day}: 1 abused item(s)",
                          f"Accord daily digest NZ {day}: 0 abused item(s)"}  # fmt: skip
    text, _name, data, _ctype = parts(mails[f"Accord daily digest PL {day}: 1 abused item(s)"])
    doc = json.loads(data)
    assert text.startswith("TLP:CLEAR") and doc["tlp"] == "clear"
    assert doc["digest"]["abused"] == 1  # the CLEAR value alone
    assert doc["digest"]["notified"] and all(
        n["name"] is None and n["recipient"] is None for n in doc["digest"]["notified"]
    )
    assert doc["digest"] == json.loads(json.dumps(app.digest(outside_viewer(), "PL", day)))
    quiet, _name, quiet_data, _ctype = parts(mails[f"Accord daily digest NZ {day}: 0 abused item(s)"])
    assert "Nothing abused was seen in NZ that day." in quiet
    assert json.loads(quiet_data)["digest"]["abused"] == 0


def test_missed_days_are_caught_up_and_removed_subscriptions_cancelled(routed: Any, make_accord: Any) -> None:
    app = routed.app
    sub = app.subscribe_digest(OPERATOR, "BR", "CERT.br")
    with app.db.write() as conn:  # subscribed twelve days ago; the worker never ran since
        conn.execute(update(digest_subscription).values(created_us=today() - 12 * DAY_US))
    queued = app.queue_digests(now_us=today() + 60 * S)  # ACCORD_DIGEST_CATCH_UP_DAYS = 7
    assert [d for _s, d in queued] == [format_micros(today() - n * DAY_US)[:10] for n in range(7, 0, -1)]
    assert make_accord(digest_catch_up_days=2).queue_digests(now_us=today() + DAY_US) == [
        (sub["id"], format_micros(today())[:10])
    ]
    app.unsubscribe_digest(OPERATOR, sub["id"])
    report = sender(make_accord, smtp_host="127.0.0.1", smtp_port=9).deliver_notifications(
        now_us=today() + DAY_US
    )
    assert report["cancelled"] == 8 and report["sent"] == 0
    assert {(r.status, r.last_error) for r in digest_rows(app)} == {
        ("cancelled", "the digest subscription was removed before delivery")
    }


# --- the command line -------------------------------------------------------------------------------------


def test_worker_queues_and_sends_each_digest_once_from_the_command_line(
    routed: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = routed.app
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(tmp_path / "data")]

    def cli(*args: str, code: int = 0) -> Any:
        result = runner.invoke(main, [*base, *args], catch_exceptions=False)
        assert result.exit_code == code, (args, result.output)
        return result

    done = cli("route", "digest", "subscribe", "PL", "--contact", "CERT Polska incident desk", "--as",
               "admin@cert.pl")  # fmt: skip
    assert "PL to CERT Polska incident desk (email)" in done.stdout
    assert "unknown country 'XX'" in cli("route", "digest", "subscribe", "XX", "--contact", "CERT.br",
                                         code=1).output  # fmt: skip
    assert "no contact point 'Nobody'" in cli("route", "digest", "subscribe", "PL", "--contact", "Nobody",
                                              code=1).output  # fmt: skip
    assert "is not a date" in cli("route", "digest", "show", "PL", "--day", "28/11/2026", code=1).output
    assert "CERT Polska incident desk" in cli("route", "digest", "list", "--as", "admin@cert.pl").stdout
    store_pl(routed)
    day = format_micros(today())[:10]
    shown = json.loads(cli("route", "digest", "show", "PL", "--day", day, "--as", "analyst@cert.pl").stdout)
    assert (shown["day"], shown["abused"], shown["came_back"]["outcomes"]["taken-down"]) == (day, 2, 1)
    public = json.loads(cli("route", "digest", "show", "PL", "--day", day).stdout)
    assert public["abused"] == 1  # without --as: what a contact outside the alliance would get
    with app.db.write() as conn:  # subscribed yesterday: yesterday's digest is due now
        conn.execute(update(digest_subscription).values(created_us=today() - DAY_US))
    with smtp_server() as (port, inbox, _ca):
        monkeypatch.setenv("ACCORD_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ACCORD_SMTP_PORT", str(port))
        cli("worker", "--once")
        cli("worker", "--once")
    yesterday = format_micros(today() - DAY_US)[:10]
    digests = [m for m in inbox.mails if str(m.message["Subject"]).startswith("Accord daily digest")]
    assert [m.message["Subject"] for m in digests] == [
        f"Accord daily digest PL {yesterday}: 0 abused item(s)"
    ]
    listed = cli("route", "digest", "list").stdout
    assert f"last {yesterday} sent ACCORD-" in listed
    desk = ("--contact", "CERT Polska incident desk", "--as", "admin@cert.pl")
    cli("route", "digest", "unsubscribe", "PL", *desk)
    assert cli("route", "digest", "list").stdout == ""
