"""Enrichment: 1M random public IP addresses enriched in batch (country + AS number) with
`Enricher.enrich_ips`, beside plevin's own per-address look-up (the anchor) on a sample in the same run.

    .venv/bin/python bench/enrich_bench.py [--count 1000000] [--runs 5] [--sample 20000]

Addresses are drawn uniformly from public IPv4 space (`ipaddress.is_global`), and, for the mixed
batch, one in ten from the IPv6 ranges the RIRs hand out. Also measured: the same batch with an
operator's own data loaded in front of the shipped data (ip-location-db CSV from ../shared/data, if
present), answers as dicts (`enrich_many`, what `accord enrich -` prints) and one value at a time.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import random
import time
from collections.abc import Callable

import iptocc
import plevin
import plevin_db_network
import psutil
from common import ROOT, median, write_section

from accord.routing.enrich import Enricher
from accord.routing.loaders import load_data

IP_LOCATION_DB = ROOT.parent / "shared" / "data" / "ip-location-db-npm"
# The IPv6 blocks the RIRs allocate from (most of the announced IPv6 space lies in these).
V6_BLOCKS = [
    ipaddress.IPv6Network(n) for n in ("2001::/16", "2400::/12", "2600::/12", "2800::/12", "2a00::/12")
]


def public_v4(rnd: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        address = ipaddress.IPv4Address(rnd.getrandbits(32))
        if address.is_global:
            out.append(str(address))
    return out


def public_v6(rnd: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        block = rnd.choice(V6_BLOCKS)
        address = block[rnd.getrandbits(128 - block.prefixlen)]
        if address.is_global:
            out.append(address.compressed)
    return out


class Timed:
    """Several runs of one measurement: wall-clock and this process's CPU time."""

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

    def rate(self, count: int) -> float:
        return count / median(self.wall)

    def row(self, what: str, count: int, bold: bool = False) -> str:
        wall = median(self.wall)
        runs = ", ".join(f"{t:.3f}" for t in self.wall)
        rate = f"{count / wall:,.0f}/s"
        return (
            f"| {what} | {count:,} | {runs} | {wall:.3f} s | {f'**{rate}**' if bold else rate} "
            f"| {count / median(self.cpu):,.0f}/s | {count / min(self.wall):,.0f}/s |"
        )


def plevin_each(values: list[str]) -> int:
    """plevin's own look-up, once per address, on a fresh instance (no answers cached from a run
    before); country from the registry block (`network.country`) and the AS number, as we answer."""
    own = plevin.Plevin(plevin_db_network.PATH)
    found = 0
    for value in values:
        network = own.lookup(value).network
        found += network is not None and network.asn is not None
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sample", type=int, default=20_000, help="addresses for the per-address anchor")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rnd = random.Random(42)
    v4 = public_v4(rnd, args.count)
    # One in ten positions IPv6, the strings made in input order (as lines read from a file are).
    six = set(rnd.sample(range(args.count), args.count // 10))
    v4_iter, v6_iter = iter(v4), iter(public_v6(rnd, len(six)))
    mixed = [next(v6_iter) if i in six else next(v4_iter) for i in range(args.count)]
    sample = v4[: args.sample]
    print(f"{len(v4):,} IPv4, {len(mixed):,} mixed addresses generated", flush=True)

    process = psutil.Process()
    rss = process.memory_info().rss
    enricher = Enricher()
    compile_ = Timed(lambda: enricher.networks[-1].compile(), 1)  # type: ignore[attr-defined]
    enricher.enrich_ips(v4[:1000])  # the first batch also builds the /24 index
    table_mib = (process.memory_info().rss - rss) / 2**20
    batch = Timed(lambda: enricher.enrich_ips(v4), args.runs)
    print(batch.row("enrich_ips IPv4", len(v4)), flush=True)
    ips = enricher.enrich_ips(v4)
    known_cc = sum(1 for c in ips.country.tolist() if c) / len(v4)
    known_asn = sum(1 for a in ips.asn.tolist() if a) / len(v4)
    batch_mixed = Timed(lambda: enricher.enrich_ips(mixed), args.runs)
    print(batch_mixed.row("enrich_ips mixed", len(mixed)), flush=True)
    iptocc_only = Timed(lambda: iptocc.country_code(v4), args.runs)
    anchor = Timed(lambda: plevin_each(sample), 3)
    print(anchor.row("plevin per address", len(sample)), flush=True)
    many_values = mixed[:200_000]
    many = Timed(lambda: enricher.enrich_many(many_values), 3)
    single = Timed(lambda: [enricher.enrich(v) for v in sample], 3)

    rows_operator = ""
    note_operator = "(../shared/data/ip-location-db-npm absent: the layered case was not measured)"
    if IP_LOCATION_DB.exists():
        files = [
            IP_LOCATION_DB / "geo-whois-asn-country" / "geo-whois-asn-country-ipv4.csv.gz",
            IP_LOCATION_DB / "geo-whois-asn-country" / "geo-whois-asn-country-ipv6.csv.gz",
            IP_LOCATION_DB / "asn" / "asn-ipv4.csv.gz",
            IP_LOCATION_DB / "asn" / "asn-ipv6.csv.gz",
        ]
        loading = Timed(lambda: load_data(files), 1)
        layered = Enricher(loading.result)  # type: ignore[arg-type]
        layered.enrich_ips(v4[:1000])
        layered_batch = Timed(lambda: layered.enrich_ips(mixed), args.runs)
        print(layered_batch.row("layered mixed", len(mixed)), flush=True)
        rows_operator = layered_batch.row(
            "`enrich_ips`, mixed, with ip-location-db CSV (country + ASN, v4 + v6) in front", len(mixed)
        )
        note_operator = (
            f"The layered case loads four ip-location-db CSV files (1.06M ranges) in "
            f"{loading.wall[0]:.1f} s once; each address is then answered by the first of six sources "
            "that knows it (four CSV tables, then iptocc and plevin), every table asked for the whole batch."
        )
    load_after = os.getloadavg()

    ratio = batch.rate(len(v4)) / anchor.rate(len(sample))
    body = f"""One process, one core. {len(v4):,} random public IPv4 addresses (uniform over the space,
`is_global`), and a mixed batch of the same size with one address in ten IPv6 (random, in the blocks
the RIRs allocate from). `Enricher.enrich_ips` answers country (iptocc, the RIRs' delegations) and AS
number (plevin-db-network, compiled into range tables) for the whole batch as numpy columns; the
operator's name and abuse mailbox are read from the same rows when answers are made into dicts.
Rates are from wall-clock medians; beside them the rate by CPU time and the best run. The machine is a
shared 2-core VM (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after).

| what | addresses | runs, wall (s) | median | rate (median) | by CPU time | best run |
|---|---|---|---|---|---|---|
{batch.row("`enrich_ips`, IPv4 (country + ASN)", len(v4), bold=True)}
{batch_mixed.row("`enrich_ips`, 90% IPv4 + 10% IPv6 (country + ASN)", len(mixed), bold=True)}
{rows_operator}
{many.row("`enrich_many`: a dict per value (country, ASN, operator, abuse mailbox, sources), mixed", len(many_values))}
{single.row("`enrich(value)` once per address (plevin's look-up underneath)", len(sample))}
{anchor.row("anchor: plevin's own `lookup(address)`, fresh instance, per address", len(sample))}
{iptocc_only.row("reference: iptocc's batch `country_code` alone (country only)", len(v4))}

Compiling plevin-db-network into range tables took {compile_.wall[0]:.2f} s once per process
(+{table_mib:,.0f} MiB resident with the embedded data opened and the /24 index built). Of the IPv4 addresses {known_cc:.1%} got a country and {known_asn:.1%}
an AS number (the rest is unannounced or unassigned space). The batch path enriches
{ratio:,.0f}× as many addresses per second as plevin's per-address look-up; the tests check that
both give the same answer for every address. {note_operator}
Target (issue 6): ≥ 1,000,000 IPs/s enriched (country + ASN) in batch on one core.
"""
    write_section("Enrichment (country + ASN)", body)
    print(body)


if __name__ == "__main__":
    main()
