"""Log matching: an in-memory `Matcher` over N generated indicators (IPv4/IPv6 addresses and networks of
several prefix lengths, domains, URLs, hashes, e-mail addresses) checks log values and real Zeek logs,
beside `stix2-matcher` (the OASIS pattern matcher) on a small case in the same run.

    .venv/bin/python bench/match_bench.py [--indicators 1000000] [--values 1000000] [--runs 5]
                                          [--copies 10] [--anchor 1000]

Zeek logs: ../shared/data/zeek-sample-logs-wrccdc (real WRCCDC 2018 traffic; conn and http logs are
not in that sample, so dns, ssl, weird, smtp and the other small logs stand in). Some of their public
addresses, parent names and certificate hashes (the rarer ones, until about 2% of the lines would hit)
are planted among the indicators.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import ipaddress
import os
import random
import re
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial

from common import ROOT, median, write_section

from accord.intel.loginput import Summary, candidates, match_stream
from accord.intel.matcher import Matcher
from accord.intel.observables import normalise, try_normalise

ZEEK = ROOT.parent / "shared" / "data" / "zeek-sample-logs-wrccdc"
# Logs with no observables worth matching (analyzer names, script paths, counters).
SKIP_LOGS = {"analyzer", "loaded_scripts", "packet_filter", "stats", "capture_loss"}
Row = tuple[str, str, bytes | None, bytes | None, str]


# ------------------------------------------------------------------------------------ generated data


def _v4(rnd: random.Random) -> str:
    return f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"


def _v6(rnd: random.Random) -> str:
    return f"2a0{rnd.randrange(10)}:{rnd.randrange(1 << 16):x}:{rnd.randrange(1 << 16):x}::{rnd.randrange(1 << 16):x}"


# Per 100,000 networks: a few wide ones (as in bogon and DROP lists), mostly /24 and longer.
_V4_PREFIXES = [8] + [12] * 5 + [16] * 400 + [20] * 1500 + [22] * 3000 + [24] * 80000 + [26, 28, 30] * 4698
_V6_PREFIXES = [32] * 5 + [48] * 40 + [56] * 15 + [64] * 40
_TLDS = ["com", "net", "org", "info", "xyz", "top", "ru", "cn", "io", "biz"]


def indicator_value(rnd: random.Random, i: int) -> str:
    """One value of the generated mix (by share): 35% IPv4, 5% IPv6, 7% IPv4 networks, 2% IPv6
    networks, 30% domains, 10% URLs, 8% hashes, 3% e-mail addresses."""
    r = rnd.random()
    if r < 0.35:
        return _v4(rnd)
    if r < 0.40:
        return _v6(rnd)
    if r < 0.47:
        return f"{_v4(rnd)}/{rnd.choice(_V4_PREFIXES)}"
    if r < 0.49:
        return f"{_v6(rnd)}/{rnd.choice(_V6_PREFIXES)}"
    if r < 0.79:
        return f"{rnd.choice(['', 'www.', 'login.', 'cdn.'])}d{i}-{rnd.randrange(10**6)}.{rnd.choice(_TLDS)}"
    if r < 0.89:
        return f"http://u{i}.{rnd.choice(_TLDS)}/p/{rnd.getrandbits(32):x}"
    if r < 0.97:
        bits = rnd.choice([128, 160, 256])
        return f"{rnd.getrandbits(bits):0{bits // 4}x}"
    return f"user{i}@m{i}.{rnd.choice(_TLDS)}"


def rows_for(values: Iterable[str], rnd: random.Random) -> list[Row]:
    """Rows as the database gives them; one indicator in ten names two values."""
    rows: list[Row] = []
    indicator = ""
    for i, value in enumerate(values):
        o = normalise(value)
        if i % 10 != 1:
            indicator = f"indicator--{uuid.UUID(int=rnd.getrandbits(128), version=4)}"
        rows.append((o.kind, o.value, o.ip_lo, o.ip_hi, indicator))
    return rows


def log_value(rnd: random.Random, i: int, planted: list[str]) -> str:
    """A value as logs carry them: mostly addresses and names, ~1.5% planted hits."""
    r = rnd.random()
    if r < 0.015:
        return rnd.choice(planted)
    if r < 0.55:
        return _v4(rnd)
    if r < 0.58:
        return _v6(rnd)
    if r < 0.85:
        return (
            f"{rnd.choice(['www', 'api', 'img', 'mail'])}{i}.site{rnd.randrange(10**5)}.{rnd.choice(_TLDS)}"
        )
    if r < 0.92:
        return f"https://cdn{rnd.randrange(10**4)}.site.{rnd.choice(_TLDS)}/a/{i}?q={i}"
    if r < 0.97:
        return f"{rnd.getrandbits(256):064x}"
    return f"someone{i}@mail{rnd.randrange(100)}.example.{rnd.choice(_TLDS)}"


# ------------------------------------------------------------------------------------------ Zeek logs


def zeek_logs() -> dict[str, bytes]:
    logs = {}
    for path in sorted((ZEEK / "zeek-default").glob("*.log.gz")):
        name = path.name.removesuffix(".log.gz")
        if name not in SKIP_LOGS:
            logs[name] = gzip.decompress(path.read_bytes())
    return logs


def plant(logs: dict[str, bytes], target: float, rnd: random.Random) -> list[str]:
    """Values of the real logs to store as indicators, rare ones first, until about `target` of the
    lines would hit: public addresses, parents of DNS and TLS names, certificate hashes."""
    lines = sum(data.count(b"\n") for data in logs.values())
    counts: Counter[str] = Counter()
    for data in logs.values():
        keys = set()
        for line, value in candidates(io.BytesIO(data), "zeek"):
            o = try_normalise(value)
            if o is None or o.ip_lo != o.ip_hi:
                continue
            if o.kind in ("ipv4", "ipv6") and ipaddress.ip_address(o.value).is_global:
                keys.add((line, o.value))
            elif o.kind == "domain" and o.value.count(".") >= 2:
                keys.add((line, o.value.split(".", 1)[1]))
            elif o.kind in ("md5", "sha1", "sha256"):
                keys.add((line, o.value))
        counts.update(key for _, key in keys)
    eligible = sorted(counts.items())
    rnd.shuffle(eligible)
    eligible.sort(key=lambda e: e[1])
    chosen, covered = [], 0
    for value, n in eligible:
        if covered + n <= target * lines:
            chosen.append(value)
            covered += n
    return sorted(chosen)


_IPV4 = re.compile(rb"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b")
_NAME_END = re.compile(rb"\.(com|org|net|edu|local|gov|io|us|ru|cn|de|uk)\b")


def rewrite(data: bytes, k: int) -> bytes:
    """Copy k of a log with its addresses and names changed, so a repeated log is not free to check."""
    if not k:
        return data
    data = _IPV4.sub(lambda m: b"%s.%s.%d.%s" % (m[1], m[2], (int(m[3]) + k) % 256, m[4]), data)
    return _NAME_END.sub(b"-k%d.\\1" % k, data)


def rewrite_value(value: str, k: int) -> str:
    return rewrite(value.encode(), k).decode()


# --------------------------------------------------------------------------------------- measurement


class Timed:
    """Several runs of one measurement: wall-clock (`time.perf_counter`) and CPU time of this process."""

    def __init__(self, fn: Callable[[], object], runs: int) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.result: object = None
        for _ in range(runs):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            self.result = fn()
            self.cpu.append(time.process_time() - cpu)
            self.wall.append(time.perf_counter() - wall)

    def row(self, what: str, count: int, unit: str, bold: bool = False) -> str:
        wall, cpu = median(self.wall), median(self.cpu)
        runs = ", ".join(f"{t:.2f}" for t in self.wall)
        rate = f"{count / wall:,.0f} {unit}/s"
        return (
            f"| {what} | {runs} | {wall:.2f} s | {f'**{rate}**' if bold else rate} | {count / cpu:,.0f} {unit}/s"
            f" | {count / min(self.wall):,.0f} {unit}/s |"
        )


def each(matcher: Matcher, values: list[str]) -> int:
    """`match` called once per value; the number of values with hits."""
    match = matcher.match
    return sum(1 for value in values if match(value))


def stream(matcher: Matcher, data: bytes, fmt: str) -> Summary:
    summary = Summary()
    for _ in match_stream(matcher, io.BytesIO(data), fmt, summary=summary):
        pass
    return summary


def anchor(patterns: int, observations: int, rnd: random.Random) -> tuple[float, int]:
    """stix2-matcher: `observations` observed values against `patterns` indicator patterns
    (patterns parsed beforehand); values/s and how many patterns matched."""
    from stix2matcher.matcher import Pattern

    values = [_v4(rnd) if i % 2 else f"www{i}.site{i}.com" for i in range(observations)]
    texts = []
    for i in range(patterns):
        pick = values[rnd.randrange(observations)] if i % 10 == 0 else (_v4(rnd) if i % 2 else f"d{i}.com")
        kind = "ipv4-addr" if pick[0].isdigit() else "domain-name"
        texts.append(f"[{kind}:value = '{pick}']")
    objects: list[dict[str, object]] = []
    for i, value in enumerate(values):
        kind = "ipv4-addr" if value[0].isdigit() else "domain-name"
        sco_id = f"{kind}--{uuid.UUID(int=i + 1, version=4)}"
        objects.append({"type": kind, "id": sco_id, "value": value})
        objects.append(
            {
                "type": "observed-data",
                "spec_version": "2.1",
                "id": f"observed-data--{uuid.UUID(int=i + 1, version=4)}",
                "created": "2024-01-01T00:00:00.000Z",
                "modified": "2024-01-01T00:00:00.000Z",
                "first_observed": "2024-01-01T00:00:00Z",
                "last_observed": "2024-01-01T00:00:00Z",
                "number_observed": 1,
                "object_refs": [sco_id],
            }
        )
    bundle = [{"type": "bundle", "id": f"bundle--{uuid.UUID(int=1, version=4)}", "objects": objects}]
    compiled = [Pattern(text, stix_version="2.1") for text in texts]
    start = time.perf_counter()
    matched = sum(1 for p in compiled if p.match(bundle))
    return observations / (time.perf_counter() - start), matched


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--values", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--copies", type=int, default=10, help="copies of the dns+ssl logs for the long Zeek run")
    ap.add_argument("--anchor", type=int, default=1000, help="patterns and observations for stix2-matcher")
    args = ap.parse_args()
    rnd = random.Random(20240501)
    load_before = os.getloadavg()

    logs = zeek_logs()
    planted = plant(logs, 0.02, rnd)
    big = {k: logs[k] for k in ("dns", "ssl")}
    planted_all = sorted({rewrite_value(v, k) for v in planted for k in range(args.copies)})
    networks = [f"{ip}/24" for ip in planted if ip.count(".") == 3 and ip.replace(".", "").isdigit()][:20]
    planted_n = len(planted_all) + len(networks)

    def make_rows() -> list[Row]:
        """The same rows every time (their own seed)."""
        gen = random.Random(7)
        values = [indicator_value(gen, i) for i in range(args.indicators - planted_n)]
        return rows_for(values + planted_all + networks, gen)

    # Memory: what stays allocated once the rows are dropped (the index keeps the value and id strings
    # it needs, as after a database read), and the peak while both exist; traced, so exact for Python.
    tracemalloc.start()
    rows = make_rows()
    Matcher(rows)
    _, peak = tracemalloc.get_traced_memory()
    matcher = Matcher(rows)
    del rows
    gc.collect()
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del matcher

    rows = make_rows()
    row_count = len(rows)
    print(f"{row_count:,} indicator rows ({planted_n} planted), index {memory / 2**20:,.0f} MiB", flush=True)
    build = Timed(partial(Matcher, rows), 3)
    matcher = Matcher(rows)
    del rows, build.result

    values = [log_value(rnd, i, planted_all) for i in range(args.values)]
    values_file = "\n".join(values).encode() + b"\n"
    many = Timed(lambda: matcher.match_values(values), args.runs)
    assert isinstance(many.result, dict)
    hit_values = sum(1 for v in values if v in many.result)
    values_stream = Timed(lambda: stream(matcher, values_file, "values"), args.runs)
    # Log values repeat: the same count drawn from 100,000 distinct ones with Zipf-like weights.
    pool = values[:100_000]
    drawn = rnd.choices(pool, weights=[1 / (rank + 1) for rank in range(len(pool))], k=args.values)
    drawn_file = "\n".join(drawn).encode() + b"\n"
    drawn_stream = Timed(lambda: stream(matcher, drawn_file, "values"), args.runs)
    one = Timed(partial(each, matcher, values), 3)
    print(many.row("match_values", args.values, "values"), flush=True)

    zeek_data = b"".join(logs.values())
    zeek = Timed(lambda: stream(matcher, zeek_data, "zeek"), args.runs)
    assert isinstance(zeek.result, Summary)
    json_data = b"".join(
        gzip.decompress(p.read_bytes()) for p in sorted((ZEEK / "zeek-json").glob("*.json.gz"))
    )
    json = Timed(lambda: stream(matcher, json_data, "zeek-json"), args.runs)
    assert isinstance(json.result, Summary)
    long_data = b"".join(rewrite(data, k) for k in range(args.copies) for data in big.values())
    long = Timed(lambda: stream(matcher, long_data, "zeek"), max(1, args.runs // 2))
    assert isinstance(long.result, Summary)
    print(zeek.row("zeek", zeek.result.lines, "lines"), flush=True)

    anchor_rate, anchor_matched = anchor(args.anchor, args.anchor, random.Random(7))
    print(f"anchor: {anchor_rate:,.1f} values/s", flush=True)
    load_after = os.getloadavg()

    many_rate = args.values / median(many.wall)
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(zeek.result.hits_by_kind.items()))
    body = f"""One process, one core. {row_count:,} indicator rows (35% IPv4, 5% IPv6, 7% IPv4 networks /8-/30
mostly /24, 2% IPv6 networks /32-/64, 30% domains, 10% URLs, 8% hashes, 3% e-mail; one indicator in
ten has two values; {planted_n:,} of them planted from the Zeek logs) in a `Matcher`. Rates are
from wall-clock medians (`time.perf_counter`); beside them the rate by the process's CPU time and the
best run. The machine is a shared 2-core VM (load average {load_before[0]:.1f} before, {load_after[0]:.1f}
after) whose speed drifts by tens of percent within a run, CPU time included: compare within a run.

| what | runs, wall (s) | median | rate (median) | by CPU time | best run |
|---|---|---|---|---|---|
{build.row(f"build the index of {row_count:,} rows", row_count, "rows")}
| memory of the index (peak while building: {peak / 2**20:,.0f} MiB) | | **{memory / 2**20:,.0f} MiB** | | | |
{many.row(f"`match_values`, {args.values:,} values (all distinct)", args.values, "values", bold=True)}
{values_stream.row("`match_stream`, the same values as a `values` file", args.values, "values")}
{drawn_stream.row(f"`match_stream`, {args.values:,} values repeating as in logs", args.values, "values")}
{one.row("`match(value)` called once per value", args.values, "values")}
{zeek.row(f"Zeek TSV, the real logs once ({zeek.result.lines:,} lines, {len(logs)} logs)", zeek.result.lines, "lines", bold=True)}
{json.row(f"Zeek JSON, the real dns/ssl/x509 ({json.result.lines:,} lines)", json.result.lines, "lines")}
{long.row(f"Zeek TSV, dns+ssl × {args.copies} rewritten ({long.result.lines:,} lines)", long.result.lines, "lines", bold=True)}
| anchor: `stix2-matcher`, {args.anchor:,} values × {args.anchor:,} patterns | | | {anchor_rate:,.1f} values/s | | |

Values: {hit_values:,} of {args.values:,} ({hit_values / args.values:.1%}) have hits; the mix is 54% IPv4,
3% IPv6, 27% names, 7% URLs, 5% SHA-256, 3% e-mail, 1.5% planted indicator values. "Repeating as in
logs": the first 100,000 of them drawn with weights 1/rank ({len(set(drawn)):,} distinct in the file);
the stream checks each distinct value once. Zeek once:
{zeek.result.values:,} values checked, {zeek.result.hits:,} hits ({kinds}). The long run repeats dns.log and
ssl.log with each copy's addresses and names changed (third octet shifted, a label renamed; the planted
values likewise), so a copy is not answered from the stream's memory of values already checked;
within a copy, values repeat as the real traffic has them. Memory: Python allocations (`tracemalloc`)
still live once the rows are dropped, the index keeping the value and id strings it needs; the peak
is while the rows and the index both exist.

`match_values` checks {many_rate / anchor_rate:,.0f}× as many values per second as `stix2-matcher`, against
{row_count // args.anchor:,}× the indicators (stix2-matcher evaluates every pattern on every observation;
{anchor_matched} of its {args.anchor:,} patterns matched). Targets: ≥ 1,000,000 values/s and ≥ 300,000
Zeek lines/s on one core.
"""
    write_section("Log matching", body)
    print(body)


if __name__ == "__main__":
    main()
