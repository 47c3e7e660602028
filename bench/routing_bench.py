"""Routing end to end: values already stored -> enrichment -> contacts and rules -> policy -> outbox
rows (and the country view's rows), with `Routing.route_new` (the batch job behind `accord route run`).

    .venv/bin/python bench/routing_bench.py [--count 1000000] [--runs 5] [--postgres URL]

The store holds N indicators (random public IPv4 addresses, half TLP:CLEAR, half TLP:GREEN), plus, for
the mixed case, a quarter each IPv4, domain, SHA-256 and URL indicators (bench/common.py's
generator). The directory has a national CERT (a member organisation) for 60 countries, an outside
law-enforcement 24/7 point for 20, curated abuse desks for 50 large networks; the rules are the
default one (national CERT + abuse desk), one sending high-severity values to law enforcement and
one organisation's own subscription. Each run routes the whole store from a reset cursor in batches
of 100,000 objects, one transaction each; the enricher is built (0.7 s, once per process) before.
The first run also fills the per-process cache of network records (operator, abuse mailbox) that
later runs reuse; each run's wall-clock is split into stages (see `Stages`).
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from common import median, write_section
from sqlalchemy import delete, func, select

from accord.app import Accord
from accord.db import bulk_insert
from accord.db.schema import (
    abuse_count,
    abuse_count_pending,
    notification,
    observable,
    routing_cursor,
    stix_object,
)
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.model import OPERATOR
from accord.routing import service
from accord.routing.engine import Router, pk_bounds
from accord.routing.outbox import Outbox
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
    records: list[dict[str, Any]] = [
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
        conn.execute(delete(abuse_count_pending))
        conn.execute(delete(routing_cursor))
    if app.db.engine.dialect.name == "postgresql":
        with app.db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    app.routing.outbox.forget()


STAGES = ("read", "route", "outbox rows", "count appends", "outbox insert", "write")


class Stages:
    """Busy wall-clock per stage of `route_new`, by wrapping the functions it calls (a few calls a
    batch, so the wrapping costs nothing measurable): the batch read (`read_batch`, in the read-ahead
    thread after the first batch), the engine (`Router.route`: enrichment, rules, contacts, policy,
    items, counts) and the outbox rows built from what it routed (`Outbox.rows`; both in the main
    thread), the counts' append (`abuse_count_pending`) and the outbox rows' insert, and the whole
    write transaction they are part of (`Routing._write_batch`: cursor, counts, insert, commit; the
    writer thread).
    The stages run at once, so they add up to more than the run."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def _timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed

    @contextmanager
    def watching(self) -> Iterator[None]:
        targets = [
            (service, "read_batch", "read"),
            (Router, "route", "route"),
            (service, "_add_counts", "count appends"),
            (Outbox, "rows", "outbox rows"),
            (Outbox, "insert", "outbox insert"),
            (service.Routing, "_write_batch", "write"),
        ]
        saved = [
            (owner, name, getattr(owner, name)) for owner, name, _stage in targets if hasattr(owner, name)
        ]
        for owner, name, stage in targets:
            if hasattr(owner, name):
                setattr(owner, name, self._timed(stage, getattr(owner, name)))
        try:
            yield
        finally:
            for owner, name, fn in saved:
                setattr(owner, name, fn)

    def close(self) -> dict[str, float]:
        return self.seconds


def measure(
    app: Accord, runs: int
) -> tuple[list[float], dict[str, Any], dict[str, int], list[dict[str, float]]]:
    times: list[float] = []
    stages: list[dict[str, float]] = []
    report: dict[str, Any] = {}
    for _ in range(runs):
        reset(app)
        gc.collect()
        watch = Stages()
        with watch.watching():
            start = time.perf_counter()
            report = app.routing.route_new()
            times.append(time.perf_counter() - start)
        stages.append(watch.close())
    with app.db.read() as conn:
        counts = {
            "notification rows": conn.execute(select(func.count()).select_from(notification)).scalar_one(),
            "pending count rows": conn.execute(
                select(func.count()).select_from(abuse_count_pending)
            ).scalar_one(),
            "recipients": conn.execute(select(func.count(notification.c.recipient.distinct()))).scalar_one(),
            "entries bytes": conn.execute(select(func.sum(func.length(notification.c.entries)))).scalar()
            or 0,
        }
    return times, report, counts, stages


def fold(app: Accord, runs: int) -> tuple[int, list[float]]:
    """The fold of one run's pending counts (all of them: in the bench they are today's), each time
    from the same pending rows into an empty `abuse_count`, then put back as they were."""
    with app.db.read() as conn:
        saved = [tuple(r) for r in conn.execute(select(abuse_count_pending))]
    times: list[float] = []
    for _ in range(runs):
        with app.db.write() as conn:
            conn.execute(delete(abuse_count))
            conn.execute(delete(abuse_count_pending))
            bulk_insert(conn, abuse_count_pending, service._COUNT_COLUMNS, saved)
        start = time.perf_counter()
        app.routing.fold_counts()
        times.append(time.perf_counter() - start)
    with app.db.read() as conn:
        folded = conn.execute(select(func.sum(abuse_count.c.value_count))).scalar()
    assert folded == sum(r[-1] for r in saved), "the fold lost or added counts"
    return len(saved), times


def anchor(app: Accord, runs: int) -> list[float]:
    """The anchor, in the same run: the same batches' values only read, row by row through
    SQLAlchemy Core as most code reads (value, kind, object, its audience and date; no enrichment,
    rules, policy or writes)."""
    times: list[float] = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        after = 0
        while True:
            with app.db.read() as conn:
                upto = pk_bounds(conn, after, service.BATCH_OBJECTS)
                if upto is None:
                    break
                conn.execute(
                    select(
                        observable.c.object_pk, observable.c.kind, observable.c.value,
                        stix_object.c.audience_id, stix_object.c.date_added_us,
                    )
                    .join(stix_object, stix_object.c.pk == observable.c.object_pk)
                    .where(observable.c.object_pk > after, observable.c.object_pk <= upto)
                    .order_by(observable.c.object_pk)
                ).all()  # fmt: skip
            after = upto
        times.append(time.perf_counter() - start)
    return times


def row(what: str, count: int, times: list[float], report: dict[str, Any], counts: dict[str, int]) -> str:
    wall = median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    return (
        f"| {what} | {count:,} | {report['values']:,} | {runs} | {wall:.2f} s | **{count / wall:,.0f}/s** "
        f"| {report['items']:,} to {counts['recipients']:,} recipients in {counts['notification rows']:,} rows |"
    )


def stage_row(what: str, times: list[float], stages: list[dict[str, float]]) -> str:
    """The stages of the median run, in seconds and shares of it."""
    run = sorted(range(len(times)), key=times.__getitem__)[len(times) // 2]
    total = times[run]
    cells = " | ".join(f"{stages[run][s]:.2f} ({stages[run][s] / total:.0%})" for s in STAGES)
    return f"| {what} | {total:.2f} | {cells} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
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
    lines: list[str] = []
    stage_lines: list[str] = []
    fold_lines: list[str] = []
    rates: list[tuple[str, float]] = []
    written: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}
    engines = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    with tempfile.TemporaryDirectory(prefix="routing-bench-") as tmp:
        for engine, pg in engines:
            for label, short, values in (
                ("IPv4 indicators", "IPv4", ips),
                ("mixed indicators (¼ IPv4, domain, SHA-256, URL)", "mixed", mixed),
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
                times, report, counts, stages = measure(app, args.runs)
                pending, fold_times = fold(app, args.runs)
                fold_lines.append(f"| {engine}: {short} | {pending:,} | {median(fold_times):.2f} |")
                line = row(f"{engine}: {label}", len(values), times, report, counts)
                print(line, flush=True)
                lines.append(line)
                read_times = anchor(app, args.runs)
                wall = median(read_times)
                line = (
                    f"| anchor, {engine}: the same values only read, row by row | {len(values):,} | "
                    f"{report['values']:,} | {', '.join(f'{t:.2f}' for t in read_times)} | {wall:.2f} s | "
                    f"{len(values) / wall:,.0f}/s | nothing |"
                )
                print(line, flush=True)
                lines.append(line)
                stage_lines.append(stage_row(f"{engine}: {short}", times, stages))
                rates.append((f"{engine} {short}", len(values) / median(times)))
                written[short] = (report, counts)
                app.close()
                if pg:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
    load_after = os.getloadavg()
    target = 200_000
    met = [f"{w} ({r:,.0f}/s)" for w, r in rates if r >= target]
    missed = [f"{w} ({r:,.0f}/s, {r / target:.0%} of it)" for w, r in rates if r < target]
    verdict = (
        "**met** in every case" if not missed
        else f"**met** for {', '.join(met)}; **not met** for {', '.join(missed)}" if met
        else f"**not met** ({', '.join(missed)})"
    )  # fmt: skip
    ip_report, ip_counts = written["IPv4"]
    mixed_counts = written["mixed"][1]
    body = f"""`Routing.route_new` (the batch job behind `accord route run`, also what the façade runs after a
submission) over a store of N indicators, from a reset cursor: each batch of 100,000 stored objects
is read with its IP/domain/URL values (not warninglisted, not RED, not revoked) in one query whose
columns the database aggregates into arrays (`json_group_array` on SQLite, `array_agg` on
PostgreSQL: one row per batch, no tuple per value; on PostgreSQL the numbers travel as one byte
string of packed records, `string_agg` of `int8send(…) || …`, that numpy reads in place, each
single IPv4 address among them as its integer from the stored key, so enrichment parses no
address text), with the severity and confidence each object
stated (stored at ingest); then enriched in bulk (country, AS, operator, abuse mailbox; registrable domain and ccTLD
country), matched against the directory and the rules once per distinct combination, gated by the
policy (one `policy.visible` question per recipient organisation and audience, per run), and written
as queued outbox rows (on PostgreSQL by binary COPY, the entries compressed with lz4 where the
server has it) plus
`abuse_count` rows (distinct values per day, country, AS, kind and audience: the country view's
data; appended to `abuse_count_pending`, a binary COPY per batch on PostgreSQL), with the cursor, in one
transaction. The fold of those rows into one per key happens once their day is over (the first run
of the next day), so it is timed apart, below.
Indicators: random public IPv4 addresses, half TLP:CLEAR (every recipient may see them), half
TLP:GREEN (members only: the outside abuse desks and police points do not get them); one in seven
labelled `severity:high`. Directory: 60 national CERTs (member organisations), 20 outside police
24/7 points, 50 curated abuse desks; the default rule, a severity rule and one organisation's
subscription. The rate counts stored indicators (hashes included in the mixed case) per second of
wall-clock; median of {args.runs} runs (the first run also fills the process's cache of network
records). Anchor, in the same run: the same batches' values only read, row by row through
SQLAlchemy Core (value, kind, object, its audience and date), with nothing done with them. Shared
2-core VM (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after).

| store | indicators | values routed | runs (s) | median | rate | written |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Target (issue 6): ≥ {target:,} indicators/s through enrichment and routing end to end: {verdict}.
Earlier engines in the same four cases (the first two runs on an earlier session's AMD EPYC
machine): the row-at-a-time engine 69,785, 56,208,
53,534 and 48,149/s (2026-11-27); the first columnar engine 137,744, 246,072, 105,205 and
205,004/s (2026-11-27 05:22 UTC); run by this script again at 08:26 UTC, right after a run of
this engine (before its last small changes) at 179,110, 274,528, 112,671 and 216,944/s, the first
columnar engine made 112,729, 191,091, 75,436 and 149,840/s: the machine's speed varies from hour
to hour by a quarter or more, so compare rates measured together. On 2026-12-07 at 03:00 UTC, on
this machine, the engine before the three-batch pipeline (one batch read, routed and written in
turn, severity and confidence found by scanning the objects' JSON beside the read) made 177,596,
216,897, 120,374 and 182,110/s, and the three-batch pipeline 238,311, 367,372, 151,684 and
283,252/s at 04:40 UTC, its anchors at 237,922, 221,092, 163,466 and 157,626/s. Two hours later
the same machine ran the anchors 1.2 to 1.7 times slower. In that slower hour,
PostgreSQL with IPv4 addresses only, 500,000 indicators, median of 5, one run after the other:
the engine as it was before the counts were appended and the batch read packed (commit 958e6eb)
112,794/s, this one 137,893/s (+22%); on SQLite with 200,000, median of 7: 1.87 s before, 1.61 s now.
At 14:15 UTC, the same case, three pairs of medians of 5 run one after the other: before the IPv4
addresses travelled as integers (commit 4870d99) 152,651, 160,030 and 157,823/s, with them 170,219,
181,517 and 155,932/s (+12%, +13% and -1%). The same engine in a slow hour (14:33 UTC) made 148,041, 261,776,
151,410 and 240,232/s beside anchors of 157,674, 189,993, 128,328 and 124,854/s, and in a fast one
(17:40 UTC) 233,175, 386,927, 252,790 and 423,762/s beside 246,042, 252,174, 214,143 and
219,431/s: its ratio to the anchor held (0.94 and 0.95, 1.38 and 1.53, 1.18 and 1.18, 1.92 and
1.93), the machine did not. With addresses only, the target is met in the machine's faster hours
only; about a quarter less work on both cores would meet it in the slow ones too. At 17:56 UTC,
once groups were numbered by a table of the keys present instead of a sort (commit 0391df8), the
same four cases made 274,999, 385,929, 270,831 and 355,819/s beside 285,694, 232,137, 212,219 and
202,829/s: PostgreSQL with addresses only at 1.28 times its anchor (from 1.18), the others
within the noise. At 18:43 UTC, once SQLite's inserts bound 500 rows to a statement (commit
03b2e47; the writer thread's busy time in a SQLite run with addresses only fell from about 1.4 to
0.8 s) and a batch's addresses and networks were numbered without `np.unique` (commit d00c8ea):
246,595, 374,633, 233,493 and 393,055/s beside 243,354, 238,850, 186,297 and 185,702/s, SQLite
with addresses only at 1.01 times its anchor (from 0.95). The run of 21:52 UTC on 2026-12-07 was
the first with the SQLite store made with 16 KiB pages (commit f588338): the anchors' row-by-row
reads of SQLite got quicker (277,576 and 239,414/s), routing on SQLite held (255,474, 331,000,
291,975 and 332,754/s). The run above (00:08 UTC on 2026-12-08, an Intel Xeon where the earlier
runs had an AMD EPYC) is the first with PostgreSQL sessions without JIT compilation.

Three batches are in flight at once: the next one is read (a thread and connection of its own),
this one is routed and its outbox rows built (the main thread), the previous one is written (a
writer thread: the counts' append, the outbox rows' insert and the cursor, in one
transaction, which first checks that no other process moved the cursor). Reading and writing are
mostly the database's work, or SQLite's outside the interpreter's lock, so the two cores share the
three. Where the median run's time goes (busy seconds per stage, and as a share of the run; the
stages overlap, so the shares add up to more than 100%): the batch read (the aggregated query,
severity and confidence included), the engine (`Router.route`: enrichment, rules, contacts,
policy, counts and the outbox items), the outbox rows built from them (`Outbox.rows`: what each
recipient has not had this interval, as JSON), the counts' append, the rows' insert
(`Outbox.insert`), and the whole write transaction those two are part of (commit included).

| store | run (s) | {" | ".join(STAGES)} |
|---|---|{"---|" * len(STAGES)}
{chr(10).join(stage_lines)}

The engine works on columns: values are numpy arrays, contacts and rules are decided once per distinct
(country, contacts of the AS, rules passed, automatic mailbox, network and domain contacts)
combination and spread back with `np.repeat`, the policy's verdicts are a small organisation x
audience table, a stable radix sort by recipient keeps each recipient's values in pk order, and the
outbox gets each recipient's values as a slice of shared columns.
The IPv4 case is the heavier one: its values reach {ip_counts["recipients"]:,} recipients, most of them
networks' automatic abuse mailboxes, so the outbox gets {ip_counts["notification rows"]:,} rows with
{ip_report["items"]:,} items ({ip_counts["entries bytes"] / 1e6:.1f} MB of entries JSON; the mixed case
{mixed_counts["notification rows"]:,} rows). What is left: on PostgreSQL the main thread's Python (the country
look-up, which iptocc answers from text, about a fifth of the engine; the outbox's per-recipient
entries, JSON and what each recipient already has) runs about as long as the run, with the
server's read and write on the other core; on SQLite the databases' own work, joining each value
to its object (about half of the read) and committing (SQLite checkpoints the write-ahead log the
outbox fills). On PostgreSQL with addresses only, the main thread used about 2.0 s of CPU in a
2.9 s run and the server about 2.2 s (reads 1.0 to 1.2, writes 0.65): both cores are busy, so
what is left is to spend less on both. Tried and measured no faster (pairs of runs, one after the
other): batches ramping from 1/8 of the size at the start and halving at the end (the first read
and last write shrink, but more batches cost as much); reading the values and the objects in two
aggregates joined by numpy, values by a bitmap scan (20% less of the server's time, as much more
of Python's, or none saved once the server sorts them); numbering every value of an interval once
for the outbox's memory of what each recipient has (a dict of all values, or their hashes, costs
as much as a small dict per recipient); on SQLite, one statement per batch through `json_each`
instead of a row at a time (SQLite's JSON costs more than the rows). The severity rule reads
the severity and confidence that ingest stored beside each object (migration 0008), not the
objects' JSON. The abuse counts used to be upserted into `abuse_count` per batch, which cost
PostgreSQL about 15 µs a row (a speculative insertion, a new row version in two indexes, and a
foreign-key check); a batch now appends them (migration 0009), and a run folds the pending rows of
past days into one row per key. The fold of one whole run's pending counts into an empty
`abuse_count`, measured after the runs:

| store | pending rows | fold (s), median of {args.runs} |
|---|---|---|
{chr(10).join(fold_lines)}
"""
    write_section("Routing end to end", body)
    print(body)


if __name__ == "__main__":
    main()
