"""Import a generated N-indicator STIX bundle end to end (parsed, validated, stored, indexed) on
SQLite and PostgreSQL, beside `stix2.parse` on a sample of the same data; then look up 200 values
against what was stored.

    .venv/bin/python bench/import_bench.py [--count 1000000] [--sample 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import accord_cmd, bundle_file, median, run_measured, write_section
from sqlalchemy import create_engine, text


def stix2_rate(path: Path, sample: int) -> float:
    """Objects/s of `stix2.parse` (the OASIS library, full validation) on the bundle's first objects."""
    import stix2

    with open(path) as fh:
        head = fh.read(sample * 700)
    objects = json.loads(head[head.index("[") + 1 : head.rindex("},") + 1].join("[]"))[:sample]
    start = time.perf_counter()
    for obj in objects:
        stix2.parse(obj, allow_custom=True)
    return len(objects) / (time.perf_counter() - start)


def setup(database: str, data_dir: str) -> None:
    for args in (
        ["init"],
        ["org", "add", "Bench CERT", "--sector", "csirt", "--country", "PL"],
        ["user", "add", "bench@cert.example", "--org", "Bench CERT", "--role", "analyst"],
    ):
        run_measured(accord_cmd("--database", database, "--data-dir", data_dir, *args))


def import_once(database: str, data_dir: str, path: Path) -> tuple[float, int]:
    seconds, peak, out = run_measured(
        accord_cmd(
            "--database", database, "--data-dir", data_dir, "import", str(path), "--as", "bench@cert.example"
        )
    )
    stored = json.loads(out)["taken"]["stored"]
    return seconds, peak if stored else 0


def lookup_median(database: str, data_dir: str, path: Path, runs: int = 25) -> tuple[float, int]:
    """Median ms of a 200-value lookup (100 known IPs/domains, 100 unknown) in-process."""
    from accord.app import Accord
    from accord.settings import Settings

    rnd = random.Random(5)
    known: list[str] = []
    with open(path) as fh:
        head = fh.read(2_000_000)
    for part in head.split('pattern":"[')[1:400]:
        value = part.split("'")[1]
        if part.startswith(("ipv4", "domain")):
            known.append(value)
    values = rnd.sample(known, 100) + [f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.1" for _ in range(100)]
    app = Accord(Settings(database_url=database, data_dir=data_dir))
    viewer = app.viewer("bench@cert.example")
    times = []
    hits = 0
    for _ in range(runs):
        start = time.perf_counter()
        result = app.lookup(viewer, values)
        times.append((time.perf_counter() - start) * 1000)
        hits = sum(1 for r in result if r["matches"])
    app.close()
    return median(times), hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=3000)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--runs", type=int, default=3, help="imports per engine (median reported)")
    args = ap.parse_args()

    path = bundle_file(args.count)
    size_mb = path.stat().st_size / 2**20
    anchor = stix2_rate(path, args.sample)
    rows = []
    lookups = []
    engines = [("SQLite", None)]
    if args.postgres:
        engines.append(("PostgreSQL", args.postgres))
    for engine_name, pg in engines:
        results = []
        for _ in range(args.runs):
            tmp = tempfile.mkdtemp(prefix="accord-bench-")
            if pg:
                schema = "bench_" + Path(tmp).name.replace("-", "_").lower()
                admin = create_engine(pg)
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                database = f"{pg}?options=-csearch_path%3D{schema}"
            else:
                database = f"sqlite:///{tmp}/accord.sqlite3"
            setup(database, tmp)
            seconds, peak = import_once(database, tmp, path)
            results.append((seconds, peak))
            if len(results) == args.runs:
                lookups.append((engine_name, *lookup_median(database, tmp, path)))
            if pg:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
            shutil.rmtree(tmp, ignore_errors=True)
        secs = statistics.median(r[0] for r in results)
        peak = max(r[1] for r in results)
        rate = args.count / secs
        runs = ", ".join(f"{r[0]:.1f}" for r in results)
        rows.append(
            f"| Accord on {engine_name} (median of {len(results)}: {runs} s) | {args.count:,} | "
            f"{secs:.1f} s | **{rate:,.0f}/s** | "
            f"{rate / anchor:,.0f}× | {peak / 2**20:,.0f} MiB |"
        )
        print(rows[-1], flush=True)
    body = f"""Import of a generated bundle of {args.count:,} indicators ({size_mb:,.0f} MiB; a quarter each
IPv4, domain, SHA-256 and URL patterns, TLP:GREEN) end to end with `accord import` — streamed, validated,
patterns parsed, stored, observable values indexed, in one transaction — in a fresh database. Time
is wall-clock for the whole command (process start included); memory is the peak RSS of the
command's process tree (the importer and its worker process). Anchor: `stix2.parse` (OASIS
`stix2` library) on the first {args.sample:,} objects of the same bundle, in the same run.

| what | objects | time | rate | vs stix2.parse | peak memory |
|---|---|---|---|---|---|
| `stix2.parse` (anchor) | {args.sample:,} | | {anchor:,.0f}/s | 1× | |
{chr(10).join(rows)}

A fresh database takes the bulk-load path (SQLite): no secondary index while rows go in, every
index built once at the end, repeats found in memory. Into a store that already holds data, the
indexed path runs instead.

Targets: issue 2, ≥ 30,000 indicators/s into SQLite on this 2-core machine in under 1 GB (met);
issue 3, ≥ 100,000/s with overlaps recorded in ≤ 1.5 GB (memory met, speed **not met**). The
importing process alone spends about 20 µs of CPU per indicator (measured on 2026-11-27 on an Intel
machine a quarter slower than this one, with `time.process_time` around each phase of a
1,000,000-indicator import): about 7 µs in SQLite's
`executemany` for the object and observable rows, 5 µs building the seven indexes, 2 µs receiving
batches from the worker, 3 µs of Python per batch row and the rest committing; the worker's
parsing and validation (about 7 µs) runs beside it on the other core. The target leaves 10 µs.
Measured again on 2026-12-07 at 17:30–18:10 UTC on this machine, in-process, one import of the
1,000,000-indicator bundle at a time: the worker alone (read, validated, prepared and sent, nothing
stored) took 20.9 s, 13 µs an object of it preparing (in-process, cyclic collector off); in the
import, the streaming phase took 19.1–19.3 s (bound by the worker: the main process waited on it
for 2–4 s), building the indexes 4.6–5.3 s, and the commit 5.4 s (about 2 s writing the
write-ahead log, the rest checkpointing its 918 MB into the database file). A main process that
cost nothing would still leave the worker's 20 s: 100,000/s needs both processes' work cut to a
third. Binding 500 rows to each SQLite INSERT statement instead of one (`sqlite_insert_rows`),
two pairs of imports one after the other: 34.3 s against 37.3 s and 30.8 s against 31.3 s.
Earlier the same day (04:15 UTC, before this virtual machine was restarted) the same benchmark
measured 26.8 s on SQLite (37,286/s, 15 times its anchor) and 47.8 s on PostgreSQL (20,907/s, 9
times): an import writes about 1.8 GB (the log, then the checkpoint), and since the restart both
engines import more slowly while the anchor, which only parses, lost 7%.

Lookup of 200 values (100 known IPs and domains, 100 unknown) against the {args.count:,} stored
objects, `Accord.lookup` in-process, median of 25 (target ≤ 50 ms; MISP: 20–25 s):

| engine | median | values with matches |
|---|---|---|
{chr(10).join(f"| {e} | **{ms:.1f} ms** | {hits} |" for e, ms, hits in lookups)}
"""
    write_section(f"Import and lookup ({args.count:,} indicators)", body)
    print(body)


if __name__ == "__main__":
    main()
