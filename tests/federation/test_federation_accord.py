"""Two Accord nodes on loopback: north (the database under test) pulls from south (SQLite, served
by uvicorn) through south's own TAXII server. GREEN arrives, AMBER only when it names north's
organisation, RED never; the producer is south's organisation; a revocation and a deletion
propagate; a second sync adds nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from federation_helpers import rows_from
from stix_factory import ip_indicator, malware

from accord.app import Accord
from accord.federation import service
from accord.federation.client import Limits
from accord.intel.query import ListFilter
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.settings import Settings

pytestmark = pytest.mark.store

create_asgi = pytest.importorskip("accord.web.api").create_asgi
pytest.importorskip("accord.taxii.server")


@pytest.fixture
def south(tmp_path: Path) -> Iterator[tuple[Accord, str]]:
    """The south node, on its own SQLite database, served on 127.0.0.1; yields it and its API root."""
    app = Accord(Settings(database_url=f"sqlite:///{tmp_path / 'south.sqlite3'}",
                          data_dir=str(tmp_path / "south"), node_name="south"))  # fmt: skip
    app.init()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_asgi(app), log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "south did not start"
        time.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}/taxii2/api/"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        app.close()


def test_north_pulls_from_south_what_the_policy_lets_it(make_accord: Any, south: Any) -> None:
    south_app, south_url = south
    north = make_accord(node_name="north")
    with north.db.write() as conn:
        home = north.members.add_org(conn, OPERATOR, "CERT North", "csirt", "NO")
        north.members.add_user(conn, OPERATOR, "nina@north.example", home, "analyst")
    with south_app.db.write() as conn:
        origin = south_app.members.add_org(conn, OPERATOR, "CERT South", "csirt", "DE")
        south_app.members.add_user(conn, OPERATOR, "sam@south.example", origin, "analyst")
    _info, north_token = service.add(south_app, "north", url="http://127.0.0.1:9/unused/", community=True,
                                     orgs=["CERT North"])  # fmt: skip
    service.add(north, "south", url=south_url, token=north_token, community=True)

    sam = south_app.viewer("sam@south.example")
    green, red, amber_home = (ip_indicator(f"198.51.100.{i}", t) for i, t in ((1, TLP.GREEN), (2, TLP.RED),
                                                                               (3, TLP.AMBER)))  # fmt: skip
    family = malware("Southern RAT", TLP.GREEN)
    south_app.submit(sam, [(i, o, json.dumps(o)) for i, o in enumerate([green, red, amber_home, family])])
    for_north = ip_indicator("198.51.100.4", TLP.AMBER)
    south_app.submit(sam, [(0, for_north, json.dumps(for_north))],
                     share=south_app.resolve_share(sam, ["org:north/CERT North"]))  # fmt: skip

    limits = Limits(page_size=2)
    first = service.sync(north, "south", limits=limits)
    assert first.status == "ok", first.error
    assert (first.stored, first.refused) == (3, 0)
    nina = north.viewer("nina@north.example")
    seen = {o["object"]["id"]: o for o in north.list_objects(nina, ListFilter())[0]}
    assert set(seen) == {green["id"], family["id"], for_north["id"]}
    assert {o["producer"]["name"] for o in seen.values()} == {"south/CERT South"}
    assert seen[for_north["id"]]["tlp"] == "amber"
    assert service.sync(north, "south", limits=limits).stored == 0

    # South revokes its malware and deletes the GREEN indicator: both reach north.
    revoked = {**family, "modified": "2025-01-01T00:00:00.000Z", "revoked": True}
    south_app.submit(sam, [(0, revoked, json.dumps(revoked))])
    assert south_app.delete_object(sam, green["id"]) == 1
    later = service.sync(north, "south", limits=limits)
    assert (later.status, later.stored, later.deleted) == ("ok", 1, 1), later.error
    assert north.get_object(nina, family["id"])["revoked"] is True
    assert {r.stix_id for r in rows_from(north, "south")} == {family["id"], for_north["id"]}
