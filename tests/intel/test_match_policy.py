"""Log matching through the faces: only indicators the caller may see, never warninglisted values."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from stix_factory import indicator, ip_indicator, parsed

from accord.cli import main
from accord.errors import InvalidInput
from accord.intel.tlp import TLP
from accord.intel.warninglists import parse_list
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

ZEEK_CONN = (
    "#separator \\x09\n"
    "#set_separator\t,\n"
    "#empty_field\t(empty)\n"
    "#unset_field\t-\n"
    "#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
    "1700000000.1\tC1\t10.0.0.5\t51000\t198.51.100.50\t443\ttcp\n"
    "1700000000.2\tC2\t10.0.0.6\t51001\t203.0.113.77\t80\ttcp\n"
    "1700000000.3\tC3\t10.0.0.7\t51002\t8.8.8.8\t53\tudp\n"
    "1700000000.4\tC4\t10.0.0.8\t51003\t198.51.100.51\t443\ttcp\n"
)


@pytest.fixture
def world(alliance: Any) -> Any:
    a = alliance
    a.org("CERT Polska", "csirt", "PL")
    a.org("Banco Sul", "business", "BR")
    a.user("jan@cert.pl", "CERT Polska")
    a.user("ana@banco.br", "Banco Sul")
    shared = ip_indicator("198.51.100.50", TLP.GREEN)
    network = ip_indicator("203.0.113.0/24", TLP.GREEN)
    secret = ip_indicator("198.51.100.51", TLP.AMBER)  # CERT Polska's alone
    resolver = ip_indicator("8.8.8.8", TLP.GREEN)
    domain = indicator("[domain-name:value = 'evil.example']", TLP.GREEN)
    a.app.load_warninglists(
        [
            parse_list(
                {"name": "Public DNS", "version": 1, "description": "", "type": "cidr", "list": ["8.8.8.8"]}
            )
        ]
    )
    a.app.submit(a.viewer("jan@cert.pl"), parsed([shared, network, secret, resolver, domain]))
    a.ids = {"shared": shared["id"], "network": network["id"], "secret": secret["id"], "domain": domain["id"]}
    return a


def run_match(
    world: Any, email: str, text: str, fmt: str = "auto"
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out = io.BytesIO()
    summary = world.app.match(world.viewer(email), io.BytesIO(text.encode()), fmt, out.write)
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def test_zeek_hits_follow_the_policy(world: Any) -> None:
    hits, summary = run_match(world, "ana@banco.br", ZEEK_CONN)
    assert summary["format"] == "zeek"
    assert [(h["line"], h["input"], h["kind"], h["indicator_id"]) for h in hits] == [
        (8, "198.51.100.50", "exact", world.ids["shared"]),
        (9, "203.0.113.77", "cidr", world.ids["network"]),
    ]
    assert all(h["field"] == "id.resp_h" for h in hits)
    # The producer also sees its AMBER indicator hit; nobody's warninglisted resolver does.
    hits, summary = run_match(world, "jan@cert.pl", ZEEK_CONN)
    assert [h["input"] for h in hits] == ["198.51.100.50", "203.0.113.77", "198.51.100.51"]
    assert summary["hits"] == 3 and summary["indicators"] == 4  # 8.8.8.8 was never loaded


def test_a_benign_hit_is_suppressed_even_if_listed_after_import(world: Any) -> None:
    world.app.load_warninglists(
        [
            parse_list(
                {"name": "Docs", "version": 1, "description": "", "type": "cidr", "list": ["198.51.100.50"]}
            )
        ]
    )
    hits, summary = run_match(world, "ana@banco.br", "198.51.100.50\n203.0.113.9\n", "values")
    assert [h["input"] for h in hits] == ["203.0.113.9"]
    assert summary["benign"] == 1 and summary["benign_by_list"] == {"Docs": 1}


def test_domains_and_bad_format(world: Any) -> None:
    hits, _ = run_match(world, "ana@banco.br", "GET http://login.EVIL.example/x from 192.0.2.1\n", "text")
    assert [(h["kind"], h["indicator_id"]) for h in hits] == [("domain", world.ids["domain"])]
    with pytest.raises(InvalidInput, match="format"):
        run_match(world, "ana@banco.br", "x", "yaml")


def test_cli_writes_hits_to_stdout_and_the_summary_to_stderr(
    world: Any, tmp_path: Path, database_url: str
) -> None:
    log = tmp_path / "conn.log"
    log.write_text(ZEEK_CONN)
    result = CliRunner().invoke(
        main,
        ["--database", database_url, "--data-dir", world.app.settings.data_dir, "match", str(log),
         "--as", "ana@banco.br"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"input", "line", "kind", "indicator_id"} <= set(hits[0]) and len(hits) == 2
    assert json.loads(result.stderr)["hits"] == 2


def test_api_answers_json_lines_then_a_summary(world: Any) -> None:
    client = TestClient(create_asgi(world.app))
    ana = {"Authorization": f"Bearer {world.token('ana@banco.br')}"}
    resp = client.post("/api/v1/match?format=zeek", content=ZEEK_CONN.encode(), headers=ana)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert [h["input"] for h in lines[:-1]] == ["198.51.100.50", "203.0.113.77"]
    assert lines[-1]["summary"]["hits"] == 2
    assert client.post("/api/v1/match?format=yaml", content=b"x", headers=ana).status_code == 422
    assert client.post("/api/v1/match", content=b"1.2.3.4\n").status_code == 401
