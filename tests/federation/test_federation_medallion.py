"""Pulling from medallion, the OASIS reference TAXII 2.1 server, run on loopback with its own test
data (../shared/data/medallion-default-data): a peer nobody here wrote."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data
from federation_helpers import make_world, peer_row, rows_from

from accord.federation import service
from accord.federation.client import Limits
from accord.intel.query import ListFilter

pytestmark = [pytest.mark.store, pytest.mark.corpus]


@pytest.fixture
def world(alliance: Any) -> Any:
    return make_world(alliance)


API_ROOT = "trustgroup1"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"  # "High Value Indicator Collection": 8 versions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[str]:
    """medallion on 127.0.0.1 with its memory backend over a copy of its default data."""
    source = shared_data("medallion-default-data", "medallion", "test", "data", "default_data.json")
    data = tmp_path / "medallion-data.json"
    shutil.copyfile(source, data)
    config = tmp_path / "medallion-config.json"
    config.write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(data),
                },
                "users": {"user1": "Password1"},
                "taxii": {"max_page_size": 100},
            }
        )
    )
    port = _free_port()
    log = (tmp_path / "medallion.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from medallion.scripts.run import main; sys.exit(main())",
         "--host", "127.0.0.1", "--port", str(port), str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"medallion exited: {(tmp_path / 'medallion.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{API_ROOT}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_sync_pulls_all_of_medallion_once(world: Any, medallion: str) -> None:
    app = world.app
    service.add(app, "medallion", url=medallion, token="user1:Password1", for_org="CERT Home")
    limits = Limits(page_size=3)  # three pages through medallion's own `next`
    report = service.sync(app, "medallion", limits=limits)
    assert report.status == "ok", report.error
    assert report.collections == [
        "365fed99-08fa-fdcd-a1b3-fb247eb41d01",
        COLLECTION,
        "52892447-4d7e-4f70-b94d-d7f22742ff63",
    ]  # every collection we may read, the empty ones too
    assert (report.stored, report.refused) == (8, 0)
    stored = rows_from(app, "medallion")
    assert len(stored) == 8 and len({(r.stix_id, r.modified_us) for r in stored}) == 8
    assert {r.producer_org_id for r in stored} == {peer_row(app, "medallion").org_id}
    # No TLP marking on medallion's data: AMBER, for the --for organisation alone.
    ana, otto = world.viewer("ana@home.example"), world.viewer("otto@other.example")
    assert app.count(ana, ListFilter()) == 5 and app.count(otto, ListFilter()) == 0
    latest = app.get_object(ana, "indicator--6770298f-0fd8-471a-ab8c-1c658a46574e")["object"]
    assert latest["modified"] == "2017-01-27T13:49:53.935Z"  # the newest of its three versions

    again = service.sync(app, "medallion", limits=limits)
    assert (again.status, again.stored, again.unchanged) == ("ok", 0, 0)
    assert len(rows_from(app, "medallion")) == 8
    (listed,) = service.list_peers(app)
    assert listed["newest_pulled"] == "2017-12-31T13:49:53.935000Z" and listed["pulled"] == 8


def test_wrong_credentials_are_a_clear_status(world: Any, medallion: str) -> None:
    app = world.app
    service.add(app, "medallion", url=medallion, token="user1:wrong")
    report = service.sync(app, "medallion")
    assert report.status == "failed" and "answered HTTP 401" in (report.error or "")
    assert peer_row(app, "medallion").last_status == "failed"
    assert rows_from(app, "medallion") == []
