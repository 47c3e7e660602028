"""Shared pieces of the benchmarks: generated data, process-tree memory, the results file."""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def indicator(rnd: random.Random, i: int) -> dict[str, object]:
    """A realistic indicator: a quarter each IPv4, domain, SHA-256 and URL patterns."""
    kind = i % 4
    if kind == 0:
        ip = f"{rnd.randrange(1, 223)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        pattern, name = f"[ipv4-addr:value = '{ip}']", f"C2 server {ip}"
    elif kind == 1:
        domain = f"h{i}.example{rnd.randrange(1000)}.com"
        pattern, name = f"[domain-name:value = '{domain}']", f"phishing domain {domain}"
    elif kind == 2:
        pattern, name = f"[file:hashes.'SHA-256' = '{rnd.getrandbits(256):064x}']", "dropper sample"
    else:
        pattern, name = f"[url:value = 'http://m{i}.example.net/p/{i}']", "malware download URL"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=rnd.getrandbits(128), version=4)}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "indicator_types": ["malicious-activity"],
        "object_marking_refs": [GREEN],
    }


def bundle_file(n: int, seed: int = 1) -> Path:
    """A generated n-indicator bundle under bench/out (made once, reused)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"indicators-{n}-{seed}.json"
    if path.exists():
        return path
    rnd = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(
            b'{"type":"bundle","id":"bundle--'
            + str(uuid.UUID(int=seed, version=4)).encode()
            + b'","objects":['
        )
        for i in range(n):
            fh.write((b"," if i else b"") + orjson.dumps(indicator(rnd, i)))
        fh.write(b"]}")
    tmp.rename(path)
    return path


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak RSS in bytes of its whole process tree, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-2000:]}")
    return elapsed, peak, out.decode()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.node() or 'host'}: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def write_section(title: str, body: str) -> None:
    """Replace (or add) the section `## title` in bench/RESULTS.md."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n_Measured {now} on {machine()}._\n\n{body.strip()}\n"
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by the scripts in `bench/` (see bench/README.md). Each figure "
            "stands beside its anchor measured in the same run; the machine is shared, so medians and ratios "
            "matter more than single numbers.\n"
        )
    )
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def accord_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "accord.cli", *args]
