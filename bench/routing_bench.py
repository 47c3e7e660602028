"""Routing end to end: values already stored -> enrichment -> contacts and rules -> policy -> outbox
rows (and the country view's rows), with `Routing.route_new` (the batch job behind `accord route run`).

    .venv/bin/python bench/routing_bench.py [--count 1000000] [--runs 3] [--postgres URL]

The store holds N indicators (random public IPv4 addresses, half TLP:CLEAR, half TLP:GREEN), plus, for
the mixed case, a quarter each IPv4, domain, SHA-256 and URL indicators (bench/common.py's
generator). The directory has a national CERT (a member organisation) for 60 countries, an outside
law-enforcement 24/7 point for 20, curated abuse desks for 50 large networks; the rules are the
default one (national CERT + abuse desk), one sending high-severity values to law enforcement and
one organisation's own subscription. Each run routes the whole store from a reset cursor in batches
of 100,000 objects, one transaction each; the enricher is built (0.7 s, once per process) before.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import random
import tempfile
import time
import uuid
from typing import Any

import orjson
from common import median, write_section
from sqlalchemy import delete, func, select

from accord.app import Accord
from accord.db.schema import abuse_count, notification, routing_cursor
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.model import OPERATOR
from accord.settings import Settings

CERT_COUNTRIES = [
    "US",
    "CN",
    "JP",
    "DE",
    "GB",
    "KR",
    "BR",
    "FR",
    "IT",
    "CA",
    "AU",
    "NL",
    "RU",
    "IN",
    "ES",
    "SE",
    "TW",
    "MX",
    "PL",
    "IR",
    "AR",
    "TR",
    "ZA",
    "CH",
    "ID",
    "UA",
    "EG",
    "BE",
    "VN",
    "CZ",
    "AT",
    "NO",
    "FI",
    "DK",
    "RO",
    "CO",
    "IL",
    "HK",
    "SG",
    "CL",
    "TH",
    "NZ",
    "PT",
    "GR",
    "HU",
    "IE",
    "MY",
    "PH",
    "PK",
    "SA",
    "KZ",
    "NG",
    "KE",
    "MA",
    "BG",
    "SK",
    "DZ",
    "PE",
]


def public_v4(rnd: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        address = ipaddress.IPv4Address(rnd.getrandbits(32))
        if address.is_global:
            out.append(str(address))
    return out


def indicators(values: list[tuple[str, str]], rnd: random.Random) -> list[tuple[int, dict[str, Any], str]]:
    out = []
    for i, (kind, value) in enumerate(values):
        pattern = {
            "ipv4": f"[ipv4-addr:value = '{value}']",
            "domain": f"[domain-name:value = '{value}']",
            "url": f"[url:value = '{value}']",
            "sha256": f"[file:hashes.'SHA-256' = '{value}']",
        }[kind]
        obj = {
            "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=rnd.getrandbits(128), version=4)}",
            "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z", "pattern": pattern,
            "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z", "indicator_types": ["malicious-activity"],
            "object_marking_refs": [EMIT_ID[TLP.CLEAR if i % 2 else TLP.GREEN]],
        }  # fmt: skip
        if i % 7 == 0:
            obj["labels"] = ["severity:high"]
        out.append((i, obj, orjson.dumps(obj).decode()))
    return out


def build(url: str, data_dir: str, values: list[tuple[str, str]]) -> tuple[Accord, float]:
    app = Accord(Settings(database_url=url, data_dir=data_dir))
    app.init()
    with app.db.write() as conn:
        orgs = {cc: app.members.add_org(conn, OPERATOR, f"CERT {cc}", "csirt", cc) for cc in CERT_COUNTRIES}
        app.members.add_org(conn, OPERATOR, "Producer", "csirt", "DE")
        producer_org = app.members.org_id(conn, "Producer")
        app.members.add_user(conn, OPERATOR, "p@producer.example", producer_org, "analyst")
    records = [
        {"name": f"CERT {cc}", "kind": "csirt", "org": f"CERT {cc}", "countries": [cc], "email": f"cert@{cc.lower()}.example"}
        for cc in CERT_COUNTRIES
    ]  # fmt: skip
    records += [
        {"name": f"Police {cc} 24/7", "kind": "law-enforcement", "countries": [cc], "email": f"247@police-{cc.lower()}.example"}
        for cc in CERT_COUNTRIES[:20]
    ]  # fmt: skip
    big_asns = [15169, 13335, 16509, 8075, 4134, 4837, 3320, 7922, 3356, 174, 6939, 701, 7018, 209, 12389]
    big_asns += list(range(20_000, 20_035))
    records += [
        {"name": f"Abuse AS{a}", "kind": "abuse", "asns": [a], "email": f"abuse@as{a}.example"}
        for a in big_asns
    ]
    app.import_contacts(OPERATOR, orjson.dumps(records), "json")
    app.save_rule(OPERATOR, "high to police", {"min_severity": "high"}, {"kinds": ["law-enforcement"]})
    admin_org = "CERT PL"
    app.save_rule(OPERATOR, "PL watches DE", {"countries": ["DE"]}, {"contacts": ["CERT PL"]}, org=admin_org)
    _ = orgs
    producer = app.viewer("p@producer.example")
    rnd = random.Random(7)
    start = time.perf_counter()
    for first in range(0, len(values), 100_000):
        app.submit(producer, indicators(values[first : first + 100_000], rnd))
    return app, time.perf_counter() - start


def reset(app: Accord) -> None:
    with app.db.write() as conn:
        conn.execute(delete(notification))
        conn.execute(delete(abuse_count))
        conn.execute(delete(routing_cursor))
    if app.db.engine.dialect.name == "postgresql":
        with app.db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    app.routing.outbox.forget()


def measure(app: Accord, runs: int) -> tuple[list[float], dict[str, Any], dict[str, int]]:
    times: list[float] = []
    report: dict[str, Any] = {}
    for _ in range(runs):
        reset(app)
        gc.collect()
        start = time.perf_counter()
        report = app.routing.route_new()
        times.append(time.perf_counter() - start)
    with app.db.read() as conn:
        counts = {
            "notification rows": conn.execute(select(func.count()).select_from(notification)).scalar_one(),
            "abuse_count rows": conn.execute(select(func.count()).select_from(abuse_count)).scalar_one(),
            "recipients": conn.execute(select(func.count(notification.c.recipient.distinct()))).scalar_one(),
        }
    return times, report, counts


def row(what: str, count: int, times: list[float], report: dict[str, Any], counts: dict[str, int]) -> str:
    wall = median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    return (
        f"| {what} | {count:,} | {report['values']:,} | {runs} | {wall:.2f} s | **{count / wall:,.0f}/s** "
        f"| {report['items']:,} to {counts['recipients']:,} recipients in {counts['notification rows']:,} rows |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--postgres", default=os.environ.get("ACCORD_BENCH_POSTGRES", ""), help="PostgreSQL URL, or empty"
    )
    args = ap.parse_args()
    rnd = random.Random(42)
    ips = [("ipv4", v) for v in public_v4(rnd, args.count)]
    mixed: list[tuple[str, str]] = []
    for i in range(args.count):
        k = i % 4
        if k == 0:
            mixed.append(("ipv4", ips[i][1]))
        elif k == 1:
            mixed.append(
                (
                    "domain",
                    f"h{i}.example{rnd.randrange(1000)}.{rnd.choice(['com', 'pl', 'br', 'de', 'ru', 'cn'])}",
                )
            )
        elif k == 2:
            mixed.append(("sha256", f"{rnd.getrandbits(256):064x}"))
        else:
            mixed.append(("url", f"http://m{i}.example.net/p/{i}"))
    load_before = os.getloadavg()
    lines = []
    engines = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    with tempfile.TemporaryDirectory(prefix="routing-bench-") as tmp:
        for engine, pg in engines:
            for label, values in (
                ("IPv4 indicators", ips),
                ("mixed indicators (¼ IPv4, domain, SHA-256, URL)", mixed),
            ):
                name = f"{engine}-{len(lines)}"
                if pg:
                    from sqlalchemy import create_engine, text

                    schema = "bench_" + uuid.uuid4().hex[:8]
                    admin = create_engine(pg)
                    with admin.begin() as conn:
                        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                    sep = "&" if "?" in pg else "?"
                    url = f"{pg}{sep}options=-csearch_path%3D{schema}"
                else:
                    url = f"sqlite:///{tmp}/{name}.sqlite3"
                app, stored = build(url, f"{tmp}/{name}", values)
                print(f"{engine} {label}: stored {len(values):,} in {stored:.1f} s", flush=True)
                app.routing.enricher.enrich_ips(["8.8.8.8"] * 1000)  # build the range tables once
                times, report, counts = measure(app, args.runs)
                line = row(f"{engine}: {label}", len(values), times, report, counts)
                print(line, flush=True)
                lines.append(line)
                app.close()
                if pg:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
    load_after = os.getloadavg()
    body = f"""`Routing.route_new` (the batch job behind `accord route run`, also what the façade runs after a
submission) over a store of N indicators, from a reset cursor: each batch of 100,000 stored objects
is read with its IP/domain/URL values (not warninglisted, not RED, not revoked), enriched in bulk
(country, AS, operator, abuse mailbox; registrable domain and ccTLD country), matched against the
directory and the rules, gated by the policy (one `policy.visible` question per recipient
organisation and audience, per run), and written as queued outbox rows plus `abuse_count` rows
(distinct values per day, country, AS, kind and audience: the country view's data), with the cursor,
in one transaction. Indicators: random public IPv4
addresses, half TLP:CLEAR (every recipient may see them), half TLP:GREEN (members only: the outside
abuse desks and police points do not get them); one in seven labelled `severity:high`. Directory: 60
national CERTs (member organisations), 20 outside police 24/7 points, 50 curated abuse desks; the
default rule, a severity rule and one organisation's subscription. The rate counts stored indicators
(hashes included in the mixed case) per second of wall-clock; median of {args.runs} runs. Shared 2-core
VM (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after).

| store | indicators | values routed | runs (s) | median | rate | written |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Target (issue 6): ≥ 200,000 indicators/s through enrichment and routing end to end: **not met**
(a quarter to a third of it). Where a 100,000-value SQLite batch goes (profiled): reading the values
with their objects ~0.35 s (the join, through the driver's cursor), rules and severity ~0.25 s,
combinations, contacts and the policy ~0.3 s, items and the outbox ~0.25 s, enrichment ~0.1 s, abuse
counts ~0.15 s. Next steps: a covering read (observable by object pk with kind and value), the
per-value Python loops (severity, items) moved to numpy or done once per object.
"""
    write_section("Routing end to end", body)
    print(body)


if __name__ == "__main__":
    main()
