"""Real Accord nodes on loopback for the federation tests: each one an `accord serve` subprocess
(uvicorn) with its own data directory, database and ACCORD_NODE_NAME, administered through the
`accord` command like an operator would, and read back through its own database.

(A helper module, not a conftest: a second `conftest` module would shadow the suite's own.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, create_engine, text
from taxii2client.v21 import ApiRoot, Collection

ACCORD = str(Path(sys.executable).with_name("accord"))
PG_URL = os.environ.get("ACCORD_TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_SECONDS = 30.0
CLI_SECONDS = 180.0


@dataclass
class Node:
    """One node: its settings (environment), its server once started, its analyst's token."""

    name: str
    home: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    org: str = ""
    analyst: str = ""
    token: str = ""
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    _engine: Engine | None = None
    _roots: list[ApiRoot] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        return {
            **env,
            "ACCORD_NODE_NAME": self.name,
            "ACCORD_DATA_DIR": str(self.home / "data"),
            "ACCORD_DATABASE_URL": self.database_url,
            **self.extra_env,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_root(self) -> str:
        """The TAXII API root, what peers are given as `--url`."""
        return f"{self.url}/taxii2/api/"

    # --- the `accord` command --------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return [ACCORD, *args]

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `accord ARGS` for this node; by default it must succeed (else its stderr is shown)."""
        done = subprocess.run(
            self.command(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_SECONDS,
            check=False,
        )
        if ok:
            assert done.returncode == 0, f"{self.name}: accord {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def sync(self, peer: str | None = None) -> list[dict[str, Any]]:
        """`accord peer sync [PEER]`: the JSON report of each peer synced (every one must be ok)."""
        done = self.cli("peer", "sync", *([peer] if peer else []))
        reports = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
        assert all(r["status"] == "ok" for r in reports), reports
        return reports

    def set_up(self, org: str, country: str, analyst: str) -> None:
        """Schema, one organisation, its analyst and the analyst's API token, all through the CLI."""
        self.org, self.analyst = org, analyst
        self.cli("init")
        self.cli("org", "add", org, "--sector", "csirt", "--country", country)
        self.cli("user", "add", analyst, "--org", org, "--role", "analyst")
        self.token = self.cli("token", "create", analyst, "--label", "taxii").stdout.strip()
        assert self.token.startswith("acc_"), self.token

    # --- the server ------------------------------------------------------------------------------

    def start(self) -> None:
        """`accord serve` on a free loopback port; returns once it answers HTTP."""
        for _attempt in range(3):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            log = (self.home / "serve.log").open("ab")
            self.server = subprocess.Popen(
                self.command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
                env=self.env,
                stdout=log,
                stderr=log,
            )
            log.close()
            deadline = time.monotonic() + START_SECONDS
            while self.server.poll() is None and time.monotonic() < deadline:
                try:
                    httpx.get(f"{self.url}/taxii2/", timeout=2, trust_env=False)
                    return
                except httpx.TransportError:
                    time.sleep(0.05)
            self.stop()  # the port was taken meanwhile, or it is hung: try another port
        said = (self.home / "serve.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name}: `accord serve` did not start: {said}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s) and wait for it."""
        if self.server is None:
            return
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(15)
        self.server = None

    # --- reading back ----------------------------------------------------------------------------

    @property
    def db(self) -> Engine:
        """This node's database, read directly (what it holds, whatever its API says)."""
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        return self._engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.db.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.db.connect() as conn:
            return list(conn.execute(text(sql), params))

    def collection(self, alias: str) -> Collection:
        """A TAXII collection as this node's analyst sees it (the OASIS client, the token as password)."""
        root = ApiRoot(self.api_root, user=self.analyst, password=self.token)
        self._roots.append(root)
        found = [c for c in root.collections if c.alias == alias]
        assert found, f"{self.analyst} has no collection {alias} on {self.name}"
        return found[0]

    def http(self) -> httpx.Client:
        """The JSON API as this node's analyst."""
        return httpx.Client(
            base_url=f"{self.url}/api/v1/",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
            trust_env=False,
        )

    def close(self) -> None:
        self.stop()
        for root in self._roots:
            root.close()
        self._roots.clear()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def sqlite_node(name: str, home: Path, **extra_env: str) -> Node:
    home.mkdir(parents=True)
    return Node(name, home, f"sqlite:///{home / 'accord.sqlite3'}", extra_env)


@contextmanager
def postgres_schema() -> Iterator[tuple[str | None, str]]:
    """(database URL on a fresh PostgreSQL schema, dropped afterwards; "") — or (None, why not)
    when PostgreSQL is not reachable, so the caller can skip what needs it with that reason."""
    admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # unreachable, refused, no such database: no PostgreSQL to test on
        admin.dispose()
        yield (
            None,
            f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
        )
        return
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}", ""
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
