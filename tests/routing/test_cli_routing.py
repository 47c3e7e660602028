"""`accord contact …` and `accord route …` through the real `accord` command (registered here the
way accord/cli.py registers them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from routing_helpers import pgp_public_key
from stix_factory import bundle, ip_indicator

from accord.cli import main
from accord.intel.tlp import TLP
from accord.routing.commands import contact, route

pytestmark = pytest.mark.store

for command in (contact, route):
    if command.name not in main.commands:
        main.add_command(command)


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Any:
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(tmp_path / "data")]

    def run(*args: str, input: str | None = None, code: int = 0) -> Any:
        result = runner.invoke(main, [*base, *args], input=input, catch_exceptions=False)
        assert result.exit_code == code, (args, result.output, result.stderr)
        return result

    run("init")
    run("org", "add", "CERT Polska", "--sector", "csirt", "--country", "PL")
    run("org", "add", "Producer", "--sector", "csirt", "--country", "DE")
    run("user", "add", "admin@cert.pl", "--org", "CERT Polska", "--role", "org-admin")
    run("user", "add", "p@producer.example", "--org", "Producer", "--role", "analyst")
    return run


def test_a_national_cert_subscribes_and_gets_its_country(cli: Any, tmp_path: Path) -> None:
    key = tmp_path / "cert.asc"
    key.write_text(pgp_public_key("cert@cert.pl"))
    cli("contact", "add", "CERT Polska", "--kind", "csirt", "--country", "PL", "--email", "cert@cert.pl",
        "--languages", "pl,en", "--timezone", "Europe/Warsaw", "--pgp-key", str(key),
        "--as", "admin@cert.pl")  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind,countries,email\nX,csirt,PL,x@cert.pl\nY,csirt,QQ,y@cert.pl\n")
    refused = cli("contact", "import", str(bad), code=1)
    assert "record 2, line 3, field countries" in refused.stderr
    listed = json.loads(cli("contact", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["CERT Polska"] and listed[0]["pgp_fingerprint"]
    cli(
        "route",
        "rule",
        "add",
        "PL law",
        "--country",
        "PL",
        "--to",
        "law-enforcement",
        "--min-severity",
        "high",
    )
    assert "PL law (operator)" in cli("route", "rule", "list").stdout
    cli("route", "rule", "disable", "PL law")
    wrong = cli("route", "rule", "add", "x", "--to", "csirt", "--country", "XX", code=1)
    assert "unknown country 'XX'" in wrong.stderr

    objects = tmp_path / "b.json"
    objects.write_text(
        json.dumps(bundle([ip_indicator("195.187.6.33", TLP.GREEN), ip_indicator("8.8.8.8", TLP.CLEAR)]))
    )
    cli("import", str(objects), "--as", "p@producer.example")
    report = json.loads(cli("route", "run").stdout)
    assert report["values"] == 2 and report["notifications"] == 2
    view = json.loads(cli("route", "country", "PL", "--as", "admin@cert.pl").stdout)
    assert view["abused"] == 1 and view["notified"][0]["name"] == "CERT Polska"
    outbox = json.loads(cli("route", "outbox", "--as", "admin@cert.pl").stdout)
    assert {n["recipient"] for n in outbox} == {"contact:1", "abuse:network-abuse@google.com"}
