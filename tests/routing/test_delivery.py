"""Delivery against real receivers on loopback: an aiosmtpd SMTP server (with and without STARTTLS),
HTTP webhook receivers (signed, failing, slow) and Accord's own TAXII server; failures recorded and
retried with back-off, claims that expire, the policy asked again at send time."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
import threading
import time
import warnings
from typing import Any

import pytest
from delivery_helpers import (
    Hook,
    accord_server,
    decrypt,
    free_port,
    parts,
    pgp_pair,
    smtp_server,
    webhook_receiver,
)
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from stix_factory import ip_indicator, parsed

from accord.db.schema import contact_point, notification, notification_object
from accord.errors import Conflict, Forbidden
from accord.intel.timestamps import now_micros
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.model import OPERATOR
from accord.routing.delivery import sign
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

PL = "195.187.6.33"  # PL, AS8308; the data names abuse@nask.pl
BR, BR2 = "200.160.2.3", "200.160.2.4"  # BR, AS22548; no abuse mailbox in the data
HOUR_US = 3_600_000_000
S = 1_000_000


def xarf_errors(report: dict[str, Any]) -> list[Any]:
    """What the `xarf` package (its bundled X-ARF v4 JSON schema) finds wrong with a report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import xarf

        return list(xarf.parse(report).errors)


@pytest.fixture
def world(alliance: Any) -> Any:
    a = alliance
    a.org("CERT Polska", "csirt", "PL")
    a.org("CERT.br", "csirt", "BR")
    a.org("Producer", "csirt", "DE")
    a.user("admin@cert.pl", "CERT Polska", "org-admin")
    a.user("admin@cert.br", "CERT.br", "org-admin")
    a.user("p@producer.example", "Producer", "analyst")
    return a


def add(app: Any, **record: Any) -> int:
    return int(app.add_contact(OPERATOR, record)["id"])


def route(world: Any, values: list[str], tlp: TLP = TLP.CLEAR) -> list[dict[str, Any]]:
    """Store indicators for the values and route them as of two hours ago: their interval is over,
    so they are due now."""
    objects = [ip_indicator(v, tlp, confidence=80, indicator_types=["malicious-activity"]) for v in values]
    world.app.submit(world.viewer("p@producer.example"), parsed(objects))
    world.app.routing.route_new(now_us=now_micros() - 2 * HOUR_US)
    return objects


def rows(app: Any) -> list[Any]:
    with app.db.read() as conn:
        return conn.execute(select(notification).order_by(notification.c.id)).all()


def row_for(app: Any, recipient_name: str) -> Any:
    return next(r for r in rows(app) if r.name == recipient_name)


def sender(make_accord: Any, port: int | None = None, **settings: Any) -> Any:
    """An Accord on the same database that delivers (SMTP on 127.0.0.1:port, when given)."""
    if port is not None:
        settings = {"smtp_host": "127.0.0.1", "smtp_port": port, **settings}
    return make_accord(smtp_from="accord@north.example", node_name="north", **settings)


# --- e-mail -------------------------------------------------------------------------------------------------


def test_xarf_mail_over_starttls_in_the_contacts_language(
    world: Any, make_accord: Any, tmp_path: Any
) -> None:
    app = world.app
    add(app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br",
        languages="de,fr,en")  # fmt: skip
    [obj] = route(world, [BR])
    with smtp_server(tmp_path, starttls=True) as (port, inbox, ca):
        s = sender(make_accord, port, smtp_starttls="required", smtp_ca_file=str(ca))
        report = s.deliver_notifications()
    assert (report["sent"], report["failed"]) == (1, 0), report["errors"]
    [ticket] = report["tickets"]
    assert re.fullmatch(r"ACCORD-\d{8}-\d+", ticket)
    [mail] = inbox.mails
    assert mail.tls and mail.rcpt_tos == ["cert@cert.br"] and mail.mail_from == "accord@north.example"
    msg = mail.message
    # German has no text: the next language the contact reads, French.
    assert msg["Subject"] == f"Notification d'abus {ticket} : 1 élément(s) sur vos réseaux"
    assert msg["Message-ID"] == f"<{ticket}@north.example>" and msg["X-Accord-Ticket"] == ticket
    text, name, data, ctype = parts(msg)
    assert "Le nœud Accord north" in text and "TLP:CLEAR" in text and f"{BR}  (BR, AS22548)" in text
    assert (name, ctype) == (f"{ticket}.xarf.json", "application/json")
    [xarf] = json.loads(data)  # one X-ARF report per value
    assert xarf_errors(xarf) == []
    assert (xarf["source_identifier"], xarf["category"]) == (BR, "reputation")
    assert xarf["type"] == "threat_intelligence"
    assert xarf["threat_type"] == "malicious_activity" and xarf["confidence"] == 0.8
    assert {f"ticket:{ticket.lower()}", "tlp:clear", "country:br", "asn:22548"} <= set(xarf["tags"])
    assert xarf["reporter"] == {"org": "north", "contact": "accord@north.example", "domain": "north.example"}
    assert json.loads(base64.b64decode(xarf["evidence"][0]["payload"]))["id"] == obj["id"]
    # The record, through the façade and the policy.
    [shown] = app.notifications(world.viewer("admin@cert.br"))
    assert (shown["status"], shown["ticket"], shown["attempts"]) == ("sent", ticket, 1)
    assert shown["last_error"] is None
    assert shown["sent"] is not None and shown["items"][0]["value"] == BR


def test_pgp_encrypted_csv_mail_decrypts_with_the_private_key(
    world: Any, make_accord: Any, tmp_path: Any
) -> None:
    app = world.app
    private, public = pgp_pair("cert@cert.pl")
    add(app, name="CERT Polska", kind="csirt", org="CERT Polska", countries="PL", email="cert@cert.pl",
        languages="pl,es-ES", format="csv", pgp_key=public)  # fmt: skip
    route(world, [PL])
    with smtp_server() as (port, inbox, _ca):  # no STARTTLS offered: auto mails in clear (PGP still)
        report = sender(make_accord, port).deliver_notifications()
    assert report["sent"] == 2, report  # CERT Polska, and the network's automatic abuse mailbox
    by_to = {m.rcpt_tos[0]: m for m in inbox.mails}
    encrypted = by_to["cert@cert.pl"]
    assert not encrypted.tls and PL.encode() not in encrypted.content
    outer = encrypted.message
    ticket = outer["X-Accord-Ticket"]
    assert outer["Subject"] == f"Notificación de abuso {ticket}: 1 elemento(s) en sus redes"
    inner = decrypt(private, outer)
    text, name, data, ctype = parts(inner)
    assert "El nodo Accord north" in text and "TLP:CLEAR" in text
    assert (name, ctype) == (f"{ticket}.csv", "text/csv")
    [row] = list(csv.DictReader(io.StringIO(data.decode())))
    assert list(row)[:5] == ["timestamp", "ip", "asn", "geo", "hostname"]
    assert (row["ip"], row["asn"], row["geo"], row["tlp"]) == (PL, "8308", "PL", "clear")
    assert row["ticket"] == ticket
    assert row["tag"] == "malicious-activity" and row["confidence"] == "80"
    # The automatic abuse desk (no directory entry): X-ARF in English, in clear (no key known).
    plain = by_to["abuse@nask.pl"].message
    assert plain["Subject"].startswith("Abuse notification ACCORD-")
    _text, _name, data, _ctype = parts(plain)
    assert [r["source_identifier"] for r in json.loads(data)] == [PL]


def test_required_starttls_refuses_a_server_without_it(world: Any, make_accord: Any) -> None:
    add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    with smtp_server() as (port, inbox, _ca):
        now = now_micros()
        report = sender(make_accord, port, smtp_starttls="required").deliver_notifications(now_us=now)
    assert report["failed"] == 1 and inbox.mails == []
    r = row_for(world.app, "CERT.br")
    assert (r.status, r.attempts, r.next_attempt_us) == ("queued", 1, now + 60 * S)
    assert "does not offer STARTTLS" in r.last_error and r.ticket.startswith("ACCORD-")


def test_unreachable_server_backs_off_gives_up_and_is_retried_with_its_ticket(
    world: Any, make_accord: Any
) -> None:
    app = world.app
    add(app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    s = sender(make_accord, free_port(), delivery_max_attempts=3, delivery_backoff_seconds=60)
    now = now_micros()
    assert s.deliver_notifications(now_us=now)["failed"] == 1
    r = row_for(app, "CERT.br")
    assert (r.status, r.attempts, r.next_attempt_us) == ("queued", 1, now + 60 * S)
    assert "is unreachable" in r.last_error and "Connection refused" in r.last_error
    ticket = r.ticket
    assert s.deliver_notifications(now_us=now + 30 * S)["failed"] == 0  # not due yet
    s.deliver_notifications(now_us=now + 61 * S)
    r = row_for(app, "CERT.br")
    assert (r.status, r.attempts, r.next_attempt_us) == ("queued", 2, now + 61 * S + 120 * S)  # doubled
    gave_up = s.deliver_notifications(now_us=now + 200 * S)
    assert gave_up["gave_up"] == 1
    r = row_for(app, "CERT.br")
    assert (r.status, r.attempts) == ("failed", 3) and r.last_error.startswith("gave up after 3 attempt(s)")
    assert s.deliver_notifications(now_us=now + 10 * HOUR_US)["failed"] == 0  # kept, not tried again
    # The operator queues it again once the server is back: the same notification, the same ticket.
    with pytest.raises(Forbidden):
        app.retry_notification(world.viewer("admin@cert.br"), r.id)
    assert app.retry_notification(OPERATOR, r.id) == {"requeued": [r.id]}
    with pytest.raises(Conflict):
        app.retry_notification(OPERATOR, r.id)  # queued: nothing to retry
    with smtp_server() as (port, inbox, _ca):
        assert sender(make_accord, port).deliver_notifications()["tickets"] == [ticket]
    assert inbox.mails[0].message["X-Accord-Ticket"] == ticket
    assert row_for(app, "CERT.br").status == "sent"


def test_smtp_5xx_and_4xx_answers_are_recorded_and_retried(world: Any, make_accord: Any) -> None:
    add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    with smtp_server() as (port, inbox, _ca):
        s = sender(make_accord, port)
        now = now_micros()
        inbox.rcpt_reply = "550 5.1.1 <cert@cert.br>: mailbox unavailable"
        s.deliver_notifications(now_us=now)
        assert row_for(world.app, "CERT.br").last_error == (
            "SMTP 550 for <cert@cert.br>: 5.1.1 <cert@cert.br>: mailbox unavailable"
        )
        inbox.rcpt_reply = None
        inbox.data_replies = ["451 4.3.0 try again later"]
        s.deliver_notifications(now_us=now + 61 * S)
        r = row_for(world.app, "CERT.br")
        assert (r.status, r.attempts) == ("queued", 2)
        assert "SMTP 451" in r.last_error and "try again later" in r.last_error
        assert s.deliver_notifications(now_us=now + 200 * S)["sent"] == 1
    assert len(inbox.mails) == 1
    r = row_for(world.app, "CERT.br")
    assert (r.status, r.attempts, r.last_error) == ("sent", 3, None)


def test_a_pgp_key_that_fails_at_send_time_never_falls_back_to_clear_text(
    world: Any, make_accord: Any
) -> None:
    _private, public = pgp_pair("cert@cert.br")
    cid = add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br",
              pgp_key=public)  # fmt: skip
    route(world, [BR])
    with world.app.db.write() as conn:  # the stored key went bad (it was checked when entered)
        conn.execute(update(contact_point).where(contact_point.c.id == cid).values(pgp_key="-----BEGIN PGP"))
    with smtp_server() as (port, inbox, _ca):
        report = sender(make_accord, port).deliver_notifications()
    assert report["failed"] == 1 and inbox.mails == []
    assert "the contact's PGP key does not parse" in row_for(world.app, "CERT.br").last_error


def test_email_waits_while_no_smtp_server_is_configured(world: Any, make_accord: Any) -> None:
    add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    report = sender(make_accord).deliver_notifications(now_us=now_micros() + 10 * HOUR_US)
    assert report == {"sent": 0, "failed": 0, "gave_up": 0, "cancelled": 0, "tickets": [], "errors": []}
    r = row_for(world.app, "CERT.br")
    assert (r.status, r.attempts, r.ticket) == ("queued", 0, None)


# --- webhooks -----------------------------------------------------------------------------------------------


def _webhook_contact(world: Any, url: str, fmt: str = "stix") -> int:
    return add(world.app, name="CERT.br hook", kind="csirt", org="CERT.br", countries="BR", channel="webhook",
               url=url, format=fmt)  # fmt: skip


def test_webhook_receives_signed_json(world: Any, make_accord: Any) -> None:
    with webhook_receiver(Hook()) as hook:
        cid = _webhook_contact(world, hook.url)
        [obj] = route(world, [BR], TLP.GREEN)
        s = sender(make_accord, feed_allow_networks="127.0.0.1/32")
        before = time.time()
        report = s.deliver_notifications()
    assert report["sent"] == 1, report
    [(headers, body)] = hook.received
    secret = world.app.webhook_secret(world.viewer("admin@cert.br"), cid)["secret"]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-accord-signature"] == expected == sign(secret, body)
    assert headers["content-type"] == "application/json"
    assert before - 1 <= int(headers["x-accord-timestamp"]) <= time.time()
    doc = json.loads(body)
    assert doc["ticket"] == headers["x-accord-ticket"] == report["tickets"][0]
    assert (doc["format"], doc["count"], doc["tlp"], doc["node"]) == ("stix", 1, "green", "north")
    ids = [o["id"] for o in doc["bundle"]["objects"]]
    assert ids == [obj["id"], EMIT_ID[TLP.GREEN]]
    # The secret is for those who manage the contact point, and it is the contact's own.
    with pytest.raises(Forbidden):
        world.app.webhook_secret(world.viewer("admin@cert.pl"), cid)
    assert world.app.webhook_secret(OPERATOR, cid)["secret"] == secret
    other = add(world.app, name="other hook", kind="abuse", channel="webhook", url="https://x.example/h")
    assert world.app.webhook_secret(OPERATOR, other)["secret"] != secret


def test_webhook_on_loopback_is_refused_unless_the_operator_opens_it(world: Any, make_accord: Any) -> None:
    with webhook_receiver(Hook()) as hook:
        _webhook_contact(world, hook.url)
        route(world, [BR])
        report = sender(make_accord).deliver_notifications()
    assert report["failed"] == 1 and hook.received == []
    assert "loopback" in row_for(world.app, "CERT.br hook").last_error


def test_webhook_answering_500_is_retried_and_then_delivered(world: Any, make_accord: Any) -> None:
    with webhook_receiver(Hook(answers=[500])) as hook:
        _webhook_contact(world, hook.url, fmt="xarf")
        route(world, [BR])
        s = sender(make_accord, feed_allow_networks="127.0.0.1/32")
        now = now_micros()
        assert s.deliver_notifications(now_us=now)["failed"] == 1
        r = row_for(world.app, "CERT.br hook")
        assert (r.status, r.attempts) == ("queued", 1)
        assert r.last_error == f"webhook {hook.url} answered HTTP 500 Internal Server Error"
        assert s.deliver_notifications(now_us=now + 61 * S)["sent"] == 1
    first, second = hook.received
    assert first[0]["x-accord-ticket"] == second[0]["x-accord-ticket"] == r.ticket  # receivers dedupe by it
    [report] = json.loads(second[1])["reports"]
    assert report["source_identifier"] == BR and xarf_errors(report) == []
    assert row_for(world.app, "CERT.br hook").status == "sent"


def test_webhook_that_times_out_is_a_recorded_failure(world: Any, make_accord: Any) -> None:
    with webhook_receiver(Hook(delay=10)) as hook:
        _webhook_contact(world, hook.url)
        route(world, [BR])
        s = sender(make_accord, feed_allow_networks="127.0.0.1/32", webhook_timeout_seconds=1)
        started = time.monotonic()
        report = s.deliver_notifications()
        assert time.monotonic() - started < 8
    assert report["failed"] == 1
    assert row_for(world.app, "CERT.br hook").last_error == f"webhook {hook.url} timed out after 1 s"


# --- TAXII --------------------------------------------------------------------------------------------------


def test_taxii_contact_reads_what_was_routed_to_it_in_its_own_collection(
    world: Any, make_accord: Any
) -> None:
    from taxii2client.v21 import ApiRoot

    app = world.app
    cid = add(app, name="CERT Polska feed", kind="csirt", org="CERT Polska", countries="PL", channel="taxii",
              url="https://taxii.cert.pl/")  # fmt: skip
    [obj] = route(world, [PL])
    report = sender(make_accord).deliver_notifications()  # no SMTP: the abuse mailbox's e-mail waits
    assert report["sent"] == 1, report
    assert row_for(app, "CERT Polska feed").status == "sent"
    with app.db.read() as conn:
        delivered = select(notification_object.c.contact_id, notification_object.c.stix_id)
        assert conn.execute(delivered).all() == [(cid, obj["id"])]
    tokens = {e: world.token(e) for e in ("admin@cert.pl", "admin@cert.br")}
    with accord_server(app) as url:
        root = ApiRoot(f"{url}/taxii2/api/", user="admin@cert.pl", password=tokens["admin@cert.pl"])
        [mine] = [c for c in root.collections if c.alias == "notified/CERT Polska feed"]
        assert [o["id"] for o in mine.get_objects()["objects"]] == [obj["id"]]
        other = ApiRoot(f"{url}/taxii2/api/", user="admin@cert.br", password=tokens["admin@cert.br"])
        assert not [c for c in other.collections if c.alias.startswith("notified/")]


def test_taxii_contact_outside_the_alliance_is_a_recorded_failure(world: Any, make_accord: Any) -> None:
    add(
        world.app,
        name="Outside feed",
        kind="csirt",
        countries="BR",
        channel="taxii",
        url="https://t.example/",
    )
    route(world, [BR])
    sender(make_accord).deliver_notifications()
    assert "must speak for a member organisation" in row_for(world.app, "Outside feed").last_error


# --- claims, crashes, the policy at send time ---------------------------------------------------------------


def test_a_claim_whose_worker_died_expires_and_the_notification_is_sent(world: Any, make_accord: Any) -> None:
    add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    with smtp_server() as (port, inbox, _ca):
        s = sender(make_accord, port)
        now = now_micros()
        claim = s.delivery.claim(now)  # ...and the worker dies before sending or marking
        assert claim is not None
        r = row_for(world.app, "CERT.br")
        assert (r.status, r.attempts, r.ticket) == ("sending", 1, claim.ticket)
        assert s.deliver_notifications(now_us=now + 60 * S)["sent"] == 0  # the claim still holds
        report = s.deliver_notifications(now_us=now + 601 * S)  # ACCORD_DELIVERY_CLAIM_SECONDS = 600
    assert report["tickets"] == [claim.ticket] and len(inbox.mails) == 1
    r = row_for(world.app, "CERT.br")
    assert (r.status, r.attempts) == ("sent", 2)
    # A worker that finds its claim taken over records nothing.
    assert s.delivery.finish(claim, now, prepared=None, error="late") == "lost-claim"


def test_a_stale_claim_without_attempts_left_is_given_up(world: Any, make_accord: Any) -> None:
    add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    s = sender(make_accord, free_port(), delivery_max_attempts=1)
    now = now_micros()
    assert s.delivery.claim(now) is not None
    s.deliver_notifications(now_us=now + 601 * S)
    r = row_for(world.app, "CERT.br")
    assert r.status == "failed" and "claim expired" in r.last_error and "gave up" in r.last_error


def test_two_workers_never_claim_the_same_row(world: Any, make_accord: Any) -> None:
    for i, cc in enumerate(["BR", "PL", "US", "DE"]):
        add(world.app, name=f"c{i}", kind="csirt", countries=cc, email=f"c{i}@cert.example")
    route(world, [BR, BR2, PL, "8.8.8.8"])
    all_ids = {r.id for r in rows(world.app)}
    assert len(all_ids) >= 4
    workers = [sender(make_accord, free_port()) for _ in range(2)]
    now = now_micros()
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        while (c := workers[i].delivery.claim(now)) is not None:
            claimed[i] += c.ids

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(claimed[0]) & set(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == all_ids
    assert {r.status for r in rows(world.app)} == {"sending"}


def test_objects_deleted_or_hidden_since_routing_are_not_sent(world: Any, make_accord: Any) -> None:
    app = world.app
    add(app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    gone, kept = route(world, [BR, BR2])
    app.delete_object(world.viewer("p@producer.example"), gone["id"])
    with smtp_server() as (port, inbox, _ca):
        s = sender(make_accord, port)
        assert s.deliver_notifications()["sent"] == 1
        _text, _name, data, _ctype = parts(inbox.mails[0].message)
        assert [r["source_identifier"] for r in json.loads(data)] == [BR2]
        # Nothing left to send at all: cancelled, with the reason, and nothing mailed.
        [last] = route(world, ["200.160.2.5"])
        app.delete_object(world.viewer("p@producer.example"), last["id"])
        assert s.deliver_notifications()["cancelled"] == 1
    assert len(inbox.mails) == 1
    r = rows(app)[-1]
    assert r.status == "cancelled" and r.last_error.startswith("nothing left to send")
    assert kept["id"] != gone["id"]


def test_a_contact_disabled_after_routing_is_not_sent_to(world: Any, make_accord: Any) -> None:
    cid = add(world.app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    world.app.update_contact(OPERATOR, cid, {"enabled": False})
    with smtp_server() as (port, inbox, _ca):
        assert sender(make_accord, port).deliver_notifications()["cancelled"] == 1
    assert inbox.mails == []
    r = row_for(world.app, "CERT.br")
    assert (r.status, r.last_error) == ("cancelled", "the contact point is disabled")


def test_an_automatic_mailbox_that_is_no_address_is_cancelled_with_the_reason(
    world: Any, make_accord: Any
) -> None:
    route(world, [PL])  # no directory entry for PL: only the data's abuse mailbox, abuse@nask.pl
    with world.app.db.write() as conn:
        conn.execute(update(notification).values(address="abuse at nask dot pl"))
    with smtp_server() as (port, inbox, _ca):
        assert sender(make_accord, port).deliver_notifications()["cancelled"] == 1
    assert inbox.mails == []
    [r] = rows(world.app)
    assert r.status == "cancelled" and "'abuse at nask dot pl' is not an e-mail address" in r.last_error


# --- the HTTP API -------------------------------------------------------------------------------------------


def test_the_record_retry_and_secret_over_the_api(world: Any, make_accord: Any) -> None:
    app = world.app
    cid = add(app, name="CERT.br", kind="csirt", org="CERT.br", countries="BR", email="cert@cert.br")
    route(world, [BR])
    sender(make_accord, free_port(), delivery_max_attempts=1).deliver_notifications()
    client = TestClient(create_asgi(app))
    admin = {"Authorization": f"Bearer {world.token('admin@cert.br')}"}
    [shown] = client.get("/api/v1/routing/notifications", headers=admin).json()["notifications"]
    assert shown["status"] == "failed" and shown["ticket"].startswith("ACCORD-")
    assert shown["attempts"] == 1 and "unreachable" in shown["last_error"]
    assert client.post(f"/api/v1/routing/notifications/{shown['id']}/retry", headers=admin).status_code == 403
    secret = client.get(f"/api/v1/contacts/{cid}/webhook-secret", headers=admin)
    assert secret.status_code == 200 and len(secret.json()["secret"]) == 64
    other = {"Authorization": f"Bearer {world.token('admin@cert.pl')}"}
    assert client.get(f"/api/v1/contacts/{cid}/webhook-secret", headers=other).status_code == 403
    assert app.retry_notification(OPERATOR, shown["id"])["requeued"] == [shown["id"]]
    assert row_for(app, "CERT.br").status == "queued"
