"""What a notification says: the covering text per language, X-ARF v4 (checked with the `xarf`
package's own schema), Shadowserver-style CSV and STIX bundles, for every kind of value."""

from __future__ import annotations

import csv
import io
import json
import uuid
import warnings
from typing import Any

import pytest

from accord.intel.tlp import EMIT_ID, TLP
from accord.routing import formats
from accord.routing.formats import Entry, Notice

TICKET = "ACCORD-20261128-7"


def entry(value: str, kind: str, **obj: Any) -> Entry:
    body = {"type": "indicator", "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, value)}", **obj}
    return Entry(value, kind, "PL", 8308, "default", body["id"], "indicator", "green", body, 0)


NOTICE = Notice(
    ticket=TICKET, node="north", sender="accord@north.example", recipient="CERT Polska", interval_us=0,
    entries=[
        entry("195.187.6.33", "ipv4", valid_from="2026-11-01T10:00:00Z", confidence=90,
              labels=["severity:high"], indicator_types=["malicious-activity", "botnet"]),
        entry("2001:db8::1", "ipv6", created="2026-11-02T00:00:00Z"),
        entry("evil.example.pl", "domain", name="phishing kit host"),
        entry("http://195.187.6.34:8080/a.exe", "url"),
        entry("https://bad.example.pl/login", "url"),
    ],
)  # fmt: skip


@pytest.mark.parametrize(
    ("languages", "chosen", "words"),
    [
        (["en"], "en", "Abuse notification"),
        (["fr-CA"], "fr", "Notification d'abus"),
        (["es"], "es", "Notificación de abuso"),
        (["pt-BR", "en"], "pt", "Notificação de abuso"),
        (["ru"], "ru", "Уведомление о злоупотреблении"),
        (["ar"], "ar", "إشعار إساءة استخدام"),
        (["zh-Hans"], "zh", "滥用通知"),
        (["pl", "de"], "en", "Abuse notification"),  # no text for either: English
        ([], "en", "Abuse notification"),
    ],
)
def test_the_first_language_with_a_text_is_used(languages: list[str], chosen: str, words: str) -> None:
    assert formats.language_for(languages) == chosen
    subject, body = formats.texts(chosen, n=3, ticket=TICKET, node="north", fmt="csv")
    assert subject.startswith(words) and TICKET in subject and "3" in subject
    assert TICKET in body and "north" in body and "CSV" in body


def test_xarf_has_one_valid_report_per_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import xarf

        reports = formats.xarf_reports(NOTICE)
        assert [r["source_identifier"] for r in reports] == [e.value for e in NOTICE.entries]
        for r in reports:
            assert xarf.parse(r).errors == [], r
    first = reports[0]
    assert first["timestamp"] == "2026-11-01T10:00:00.000000Z" and first["confidence"] == 0.9
    assert "severity:high" in first["tags"] and "tlp:green" in first["tags"]
    assert reports[2]["description"] == "phishing kit host"
    # Ids come from the ticket: the same notification sent again has the same report ids.
    assert [r["report_id"] for r in formats.xarf_reports(NOTICE)] == [r["report_id"] for r in reports]
    assert len({r["report_id"] for r in reports}) == len(reports)


def test_csv_is_shadowserver_shaped() -> None:
    rows = list(csv.DictReader(io.StringIO(formats.csv_text(NOTICE))))
    assert tuple(rows[0]) == formats.CSV_COLUMNS
    ip, v6, domain, url_ip, url_name = rows
    assert (ip["timestamp"], ip["ip"], ip["asn"], ip["geo"]) == (
        "2026-11-01 10:00:00",
        "195.187.6.33",
        "8308",
        "PL",
    )
    assert (ip["severity"], ip["confidence"], ip["tag"]) == ("high", "90", "malicious-activity;botnet")
    assert v6["ip"] == "2001:db8::1" and v6["timestamp"] == "2026-11-02 00:00:00"
    assert (domain["ip"], domain["hostname"]) == ("", "evil.example.pl")
    assert (url_ip["ip"], url_ip["port"], url_ip["url"]) == (
        "195.187.6.34",
        "8080",
        "http://195.187.6.34:8080/a.exe",
    )
    assert (url_name["ip"], url_name["hostname"], url_name["port"]) == ("", "bad.example.pl", "")
    assert {r["ticket"] for r in rows} == {TICKET}


def test_stix_bundle_and_webhook_body() -> None:
    notice = Notice(**{**NOTICE.__dict__, "objects": [e.obj for e in NOTICE.entries]})
    bundle = formats.stix_bundle(notice)
    assert bundle["id"] == formats.stix_bundle(notice)["id"]  # stable per ticket
    assert [o["id"] for o in bundle["objects"]][-1] == EMIT_ID[TLP.GREEN]
    body = json.loads(formats.webhook_body(notice, "stix", 1_800_000_000_000_000))
    assert (body["ticket"], body["format"], body["count"], body["tlp"]) == (TICKET, "stix", 5, "green")
    assert body["sent"] == "2027-01-15T08:00:00.000000Z" and body["bundle"] == bundle
    name, mime, data = formats.attachment(notice, "xarf")
    assert (name, mime) == (f"{TICKET}.xarf.json", "application/json") and len(json.loads(data)) == 5


def test_unmarked_objects_count_as_amber_strict() -> None:
    unmarked = Entry("198.51.100.1", "ipv4", None, None, "r", "indicator--1", "indicator", None, {}, 0)
    notice = Notice(TICKET, "n", "a@b.example", "r", 0, [NOTICE.entries[0], unmarked])
    assert notice.tlp == "amber+strict"
