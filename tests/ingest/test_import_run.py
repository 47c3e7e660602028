"""One import path for every format and face: all or nothing, idempotent, recorded, reported."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from stix_factory import bundle, ip_indicator

from accord import jobs
from accord.cli import main
from accord.db.schema import job, stix_object
from accord.errors import BatchRefused
from accord.ingest import run
from accord.intel.tlp import TLP
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

TEXT_LIST = """# a defanged list, as feeds publish them
198.51.100.7
hxxp://evil[.]example[.]com/login
phish[.]example[.]net  # trailing comment
not an indicator at all
198.51.100.7
"""


@pytest.fixture
def world(alliance: Any) -> Any:
    alliance.org("CERT Polska", "csirt", "PL")
    alliance.org("Banco Sul", "business", "BR")
    alliance.user("jan@cert.pl", "CERT Polska")
    alliance.user("ana@banco.br", "Banco Sul")
    return alliance


def stored(app: Any) -> int:
    with app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(stix_object)).scalar_one())


def job_rows(app: Any) -> list[dict[str, Any]]:
    with app.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(job).order_by(job.c.id))]


def test_text_list_is_taken_skipped_with_reasons_and_idempotent(world: Any, tmp_path: Path) -> None:
    path = tmp_path / "iocs.txt"
    path.write_text(TEXT_LIST)
    viewer = world.viewer("jan@cert.pl")
    report = world.app.import_file(viewer, str(path), default_tlp=TLP.GREEN).as_dict()
    assert report["format"] == "text"
    assert report["taken"]["stored"] == 3 and report["taken"]["by_type"] == {"indicator": 3}
    assert report["skipped"]["count"] == 2
    assert [s["line"] for s in report["skipped"]["first"]] == [5, 6]
    assert "duplicate of line 2" in report["skipped"]["first"][1]["reason"]
    # Again, later (another modification time): nothing new, every indicator recognised.
    os.utime(path, (1_900_000_000, 1_900_000_000))
    again = world.app.import_file(viewer, str(path), default_tlp=TLP.GREEN).as_dict()
    assert again["taken"]["stored"] == 0 and again["taken"]["unchanged"] == 3
    assert stored(world.app) == 3
    assert [(r["kind"], r["status"]) for r in job_rows(world.app)] == [("import", "done"), ("import", "done")]
    # Values are refanged and searchable.
    found = world.app.lookup(
        world.viewer("ana@banco.br"), ["evil.example.com", "http://evil.example.com/login"]
    )
    assert [len(r["matches"]) for r in found] == [0, 1]


def test_two_organisations_importing_one_list_keep_their_own_indicators(world: Any, tmp_path: Path) -> None:
    path = tmp_path / "iocs.txt"
    path.write_text("198.51.100.9\n")
    first = world.app.import_file(world.viewer("jan@cert.pl"), str(path), default_tlp=TLP.GREEN)
    second = world.app.import_file(world.viewer("ana@banco.br"), str(path), default_tlp=TLP.GREEN)
    assert first.result.stored == second.result.stored == 1
    assert second.result.overlaps == 1  # the bank learns the CERT knew it


def test_a_refused_import_stores_nothing_and_says_where(world: Any, tmp_path: Path) -> None:
    good = ip_indicator("192.0.2.1", TLP.GREEN)
    bad = dict(ip_indicator("192.0.2.2", TLP.GREEN), valid_from="yesterday")
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle([good, bad])))
    with pytest.raises(BatchRefused) as caught:
        world.app.import_file(world.viewer("jan@cert.pl"), str(path))
    assert caught.value.problems[0].where == {"object": bad["id"], "field": "valid_from"}
    assert stored(world.app) == 0
    [row] = job_rows(world.app)
    assert row["status"] == "failed"
    assert json.loads(row["result"])["refused"][0]["field"] == "valid_from"


def test_an_interrupted_import_leaves_nothing_and_runs_again_cleanly(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "BATCH", 10)
    path = tmp_path / "many.txt"
    path.write_text("".join(f"198.51.{i // 256}.{i % 256}\n" for i in range(100)))
    calls = 0

    def interrupt(_n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    viewer = world.viewer("jan@cert.pl")
    with pytest.raises(KeyboardInterrupt):
        world.app.import_file(viewer, str(path), progress=interrupt)
    assert stored(world.app) == 0
    assert job_rows(world.app)[0]["status"] == "interrupted"
    assert world.app.import_file(viewer, str(path)).result.stored == 100


def test_the_worker_process_path_and_gzip(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "IN_PROCESS_BELOW", 0)
    path = tmp_path / "b.json.gz"
    objects = [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(50)]
    path.write_bytes(gzip.compress(json.dumps(bundle(objects)).encode()))
    seen: list[int] = []
    report = world.app.import_file(world.viewer("jan@cert.pl"), str(path), progress=seen.append)
    assert report.format == "stix" and report.result.stored == 50
    assert sum(seen) == path.stat().st_size


def test_jobs_of_dead_processes_are_requeued(world: Any) -> None:
    app = world.app
    with app.db.write() as conn:
        job_id = jobs.create(conn, kind="feed", what="x", user_id=world.users["jan@cert.pl"],
                             org_id=world.orgs["CERT Polska"], status="running")  # fmt: skip
        conn.execute(
            update(job).where(job.c.id == job_id).values(owner=f"{jobs.socket.gethostname()}:999999999")
        )
        mine = jobs.create(conn, kind="feed", what="y", user_id=world.users["jan@cert.pl"],
                           org_id=world.orgs["CERT Polska"], status="running")  # fmt: skip
        assert jobs.requeue_orphans(conn) == [job_id]
        assert jobs.get_row(conn, job_id)["status"] == "queued"
        assert jobs.get_row(conn, mine)["status"] == "running"  # this process is alive
        assert jobs.claim(conn)["id"] == job_id
        assert jobs.claim(conn) is None


def test_cli_csv_with_a_column_map(world: Any, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        "2024-03-01T00:00:00Z;ip-dst;198.51.100.30;80\n"
        "2024-03-02T00:00:00Z;domain;bad.example.org;60\n"
        "2024-03-02T00:00:00Z;md5;zzzz;60\n"
    )
    result = CliRunner().invoke(
        main,
        ["--database", database_url, "--data-dir", str(world.app.settings.data_dir), "import", str(path),
         "--as", "jan@cert.pl", "--format", "csv", "--map", "first_seen=1,type=2,value=3,confidence=4"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["taken"]["stored"] == 2 and report["skipped"]["count"] == 1
    assert report["skipped"]["first"][0]["line"] == 3
    [found] = world.app.lookup(world.viewer("jan@cert.pl"), ["198.51.100.30"])
    obj = world.app.get_object(world.viewer("jan@cert.pl"), found["matches"][0]["id"])["object"]
    assert obj["confidence"] == 80 and obj["valid_from"].startswith("2024-03-01")


def test_api_upload_and_jobs(world: Any) -> None:
    client = TestClient(create_asgi(world.app))
    jan = {"Authorization": f"Bearer {world.token('jan@cert.pl')}"}
    ana = {"Authorization": f"Bearer {world.token('ana@banco.br')}"}
    resp = client.post("/api/v1/imports?tlp=green", content=TEXT_LIST.encode(), headers=jan)
    assert resp.status_code == 201, resp.text
    assert resp.json()["taken"]["stored"] == 3 and resp.json()["skipped"]["count"] == 2
    bad = json.dumps(bundle([dict(ip_indicator("192.0.2.9"), pattern="[ipv4-addr:value = ")]))
    resp = client.post("/api/v1/imports", content=bad.encode(), headers=jan)
    assert resp.status_code == 422 and resp.json()["problems"][0]["where"]["field"] == "pattern"
    listed = client.get("/api/v1/jobs", headers=jan).json()["jobs"]
    assert [j["status"] for j in listed] == ["failed", "done"]
    assert client.get(f"/api/v1/jobs/{listed[0]['id']}", headers=ana).status_code == 404
    assert client.get("/api/v1/jobs", headers=ana).json()["jobs"] == []
    resp = client.post("/api/v1/imports?format=yaml", content=b"x", headers=jan)
    assert resp.status_code == 422 and "format" in resp.text
    assert client.post("/api/v1/imports", content=b"", headers=jan).status_code == 422


def test_two_sources_of_one_organisation_are_two_indicators_that_overlap(world: Any, tmp_path: Path) -> None:
    viewer = world.viewer("jan@cert.pl")
    for name in ("scanners.txt", "botnet.txt"):
        (tmp_path / name).write_text("198.51.100.11\n")
    assert world.app.import_file(viewer, str(tmp_path / "scanners.txt")).result.overlaps == 0
    second = world.app.import_file(viewer, str(tmp_path / "botnet.txt"))
    assert (second.result.stored, second.result.overlaps) == (1, 1)
    [found] = world.app.lookup(viewer, ["198.51.100.11"])
    assert len(found["matches"]) == 2


def test_api_uploads_name_their_source(world: Any) -> None:
    client = TestClient(create_asgi(world.app))
    jan = {"Authorization": f"Bearer {world.token('jan@cert.pl')}"}
    body = b"198.51.100.13\n"
    first = client.post("/api/v1/imports?source=scanners", content=body, headers=jan).json()["taken"]
    again = client.post("/api/v1/imports?source=scanners", content=body, headers=jan).json()["taken"]
    other = client.post("/api/v1/imports?source=botnet", content=body, headers=jan).json()["taken"]
    assert (first["stored"], again["unchanged"], other["stored"], other["overlaps"]) == (1, 1, 1, 1)
