"""Paging a TAXII 2.1 collection end to end over HTTP on loopback: Accord with 1M objects beside
medallion (the OASIS reference server) at the largest size it pages within 60 s, measured in the
same run; then the cost of page 1 against page 1,000 (flat cost), and sync between two Accord nodes.

    .venv/bin/python bench/taxii_bench.py [--count 1000000] [--page 1000] [--sync-count 200000]

Both servers are driven by the same plain HTTP client (httpx), following `next` until `more` is
false, with the page size each allows (medallion's is its `max_page_size`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, accord_cmd, bundle_file, indicator, median, run_measured, write_section

TAXII = "application/taxii+json;version=2.1"
MEDALLION_LIMIT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, auth: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, auth=auth, headers={"Accept": TAXII}, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def page_through(objects_url: str, auth: Any, limit: int) -> tuple[int, float, list[float]]:
    """Follow `next` to the end: (objects, seconds, seconds per page)."""
    got = 0
    per_page: list[float] = []
    params: dict[str, Any] = {"limit": limit}
    start = time.perf_counter()
    with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=600) as client:
        while True:
            t = time.perf_counter()
            response = client.get(objects_url, params=params)
            response.raise_for_status()
            envelope = response.json()
            per_page.append(time.perf_counter() - t)
            got += len(envelope.get("objects", []))
            if not envelope.get("more"):
                break
            params = {"limit": limit, "next": envelope["next"]}
    return got, time.perf_counter() - start, per_page


# --- medallion -----------------------------------------------------------------------------------


def medallion_run(n: int, page: int, workdir: Path) -> tuple[int, float]:
    """Start medallion with n indicators in one collection; page through them (objects, seconds)."""
    rnd = random.Random(n)
    objects = [indicator(rnd, i) for i in range(n)]
    collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    port = free_port()
    data = {
        "/discovery": {
            "title": "bench",
            "default": f"http://127.0.0.1:{port}/api1/",
            "api_roots": [f"http://127.0.0.1:{port}/api1/"],
        },
        "api1": {
            "information": {"title": "bench", "versions": [TAXII], "max_content_length": 10**9},
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": [
                        {
                            "date_added": f"2024-01-01T00:00:{i // 1_000_000:02d}.{i % 1_000_000:06d}Z",
                            "id": o["id"],
                            "media_type": "application/stix+json;version=2.1",
                            "version": o["modified"],
                        }
                        for i, o in enumerate(objects)
                    ],
                }
            ],
        },
    }
    (workdir / "data.json").write_text(json.dumps(data))
    (workdir / "config.json").write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(workdir / "data.json"),
                },
                "users": {"bench": "Password0"},
                "taxii": {"max_page_size": page},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(port),
         str(workdir / "config.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    auth = ("bench", "Password0")
    try:
        wait_up(f"http://127.0.0.1:{port}/taxii2/", auth)
        got, seconds, _ = page_through(
            f"http://127.0.0.1:{port}/api1/collections/{collection}/objects/", auth, page
        )
    finally:
        proc.terminate()
        proc.wait(10)
    if got != n:
        raise RuntimeError(f"medallion returned {got} of {n} objects")
    return got, seconds


def medallion_largest(page: int) -> list[tuple[int, float]]:
    """Double the collection until paging it takes longer than MEDALLION_LIMIT_S."""
    runs = []
    n = 500
    while True:
        with tempfile.TemporaryDirectory(prefix="medallion-bench-") as tmp:
            got, seconds = medallion_run(n, page, Path(tmp))
        runs.append((got, seconds))
        print(f"medallion: {got:,} objects in {seconds:.1f} s", flush=True)
        if seconds > MEDALLION_LIMIT_S or n >= 64_000:
            return runs
        n *= 2


# --- Accord --------------------------------------------------------------------------------------


class AccordNode:
    """An Accord node on SQLite in a temporary directory, served by uvicorn on loopback."""

    def __init__(self, name: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"accord-bench-{name}-"))
        self.database = f"sqlite:///{self.dir}/accord.sqlite3"
        self.env = {**os.environ, "ACCORD_NODE_NAME": name}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        return run_measured(
            accord_cmd("--database", self.database, "--data-dir", str(self.dir), *args), self.env
        )[2]

    def setup(self, org: str, email: str) -> str:
        """The organisation and an analyst; returns an API token for the analyst."""
        self.cli("init")
        self.cli("org", "add", org, "--sector", "csirt", "--country", "PL")
        self.cli("user", "add", email, "--org", org, "--role", "analyst")
        out = self.cli("token", "create", email)
        return out.strip().split()[-1]

    def serve(self) -> str:
        self.proc = subprocess.Popen(
            accord_cmd("--database", self.database, "--data-dir", str(self.dir), "serve",
                       "--host", "127.0.0.1", "--port", str(self.port)),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{self.port}"
        wait_up(f"{base}/taxii2/", None)
        return base

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def community_collection(base: str, auth: Any) -> str:
    """The id of the collection that holds everything the caller may see."""
    response = httpx.get(f"{base}/taxii2/api/collections/", auth=auth, headers={"Accept": TAXII})
    response.raise_for_status()
    for c in response.json()["collections"]:
        if c["title"].lower().startswith("community"):
            return str(c["id"])
    raise RuntimeError("no community collection")


def page_cost(objects_url: str, auth: Any, limit: int, far: int, runs: int = 15) -> tuple[float, float]:
    """Median seconds of fetching page 1 and page `far` (reached once through `next`)."""
    params: dict[str, Any] = {"limit": limit}
    far_params: dict[str, Any] = params
    with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=600) as client:
        for _ in range(far - 1):
            envelope = client.get(objects_url, params=far_params).json()
            far_params = {"limit": limit, "next": envelope["next"]}
        first, last = [], []
        for _ in range(runs):
            t = time.perf_counter()
            client.get(objects_url, params=params).raise_for_status()
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.get(objects_url, params=far_params).raise_for_status()
            last.append(time.perf_counter() - t)
    return median(first), median(last)


def accord_paging(count: int, page: int) -> dict[str, Any]:
    node = AccordNode("bench")
    try:
        token = node.setup("Bench CERT", "bench@cert.example")
        node.cli("import", str(bundle_file(count)), "--as", "bench@cert.example")
        base = node.serve()
        auth = ("bench@cert.example", token)
        collection = community_collection(base, auth)
        url = f"{base}/taxii2/api/collections/{collection}/objects/"
        got, seconds, per_page = page_through(url, auth, page)
        pages = len(per_page)
        first, far = page_cost(url, auth, page, min(1000, pages))
        return {"objects": got, "seconds": seconds, "pages": pages, "first": first, "far": far,
                "far_page": min(1000, pages)}  # fmt: skip
    finally:
        node.stop()


def accord_sync(count: int) -> dict[str, Any]:
    """Node A holds `count` GREEN indicators; node B pulls them as a community peer."""
    a, b = AccordNode("node-a"), AccordNode("node-b")
    try:
        a.setup("A CERT", "analyst@a.example")
        a.cli("import", str(bundle_file(count, seed=7)), "--as", "analyst@a.example")
        b.setup("B CERT", "analyst@b.example")
        peer_token = (
            a.cli("peer", "add", "node-b", "--url", "http://127.0.0.1:1/", "--community").strip().split()[-1]
        )
        base = a.serve()
        b.cli("peer", "add", "node-a", "--url", f"{base}/taxii2/api/", "--token", peer_token, "--community")
        seconds, peak, out = run_measured(
            accord_cmd("--database", b.database, "--data-dir", str(b.dir), "peer", "sync", "node-a"), b.env
        )
        return {"objects": count, "seconds": seconds, "peak": peak, "out": out}
    finally:
        a.stop()
        b.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--medallion-page", type=int, default=1000)
    ap.add_argument("--sync-count", type=int, default=200_000)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: medallion,paging,sync")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    sys.path.insert(0, str(ROOT))

    rows: list[str] = []
    medallion_runs: list[tuple[int, float]] = []
    if "medallion" not in skip:
        medallion_runs = medallion_largest(args.medallion_page)
        for got, seconds in medallion_runs:
            rows.append(f"| medallion 3.0.0 (anchor), page {args.medallion_page} | {got:,} | {seconds:.1f} s | "
                        f"{got / seconds:,.0f}/s |")  # fmt: skip
    paging = None
    if "paging" not in skip:
        paging = accord_paging(args.count, args.page)
        rows.append(f"| Accord on SQLite, page {args.page} | {paging['objects']:,} | {paging['seconds']:.1f} s | "
                    f"**{paging['objects'] / paging['seconds']:,.0f}/s** |")  # fmt: skip
        print(rows[-1], flush=True)
    sync = None
    if "sync" not in skip:
        sync = accord_sync(args.sync_count)
        print(sync, flush=True)

    body = f"""Paging a whole collection over HTTP on loopback with one client (httpx), following `next`
until `more` is false. medallion (the OASIS reference TAXII server, memory backend) is given
collections of doubling size until one takes longer than {MEDALLION_LIMIT_S:.0f} s; Accord serves a
collection of {args.count:,} generated indicators (the import benchmark's bundle) from SQLite.

| server | objects | time | rate |
|---|---|---|---|
{chr(10).join(rows)}
"""
    if medallion_runs and paging is not None:
        within = [(n, t) for n, t in medallion_runs if t <= MEDALLION_LIMIT_S]
        if within:
            n, t = within[-1]
            rate = paging["objects"] / paging["seconds"]
            body += f"""
The largest collection medallion pages within {MEDALLION_LIMIT_S:.0f} s holds {n:,} objects ({n / t:,.0f}/s); Accord
pages 1,000,000 at {rate / (n / t):,.0f}× that rate. Each Accord figure is one run: the machine is shared, so
treat small differences between runs as noise.
"""
    if paging is not None:
        ratio = paging["far"] / paging["first"]
        body += f"""
Flat cost per page: page 1 took {paging["first"] * 1000:.1f} ms and page {paging["far_page"]:,} took
{paging["far"] * 1000:.1f} ms (median of 15 fetches each; ratio {ratio:.2f}, target ≤ 2).
"""
    if sync is not None:
        body += f"""
Sync: node B pulled {sync["objects"]:,} TLP:GREEN indicators from node A (both on SQLite, loopback) with
`accord peer sync` in {sync["seconds"]:.1f} s: **{sync["objects"] / sync["seconds"]:,.0f} objects/s** (target ≥ 20,000/s),
peak memory of the syncing process {sync["peak"] / 2**20:,.0f} MiB.
"""
    write_section("TAXII paging and sync", body)


if __name__ == "__main__":
    main()
