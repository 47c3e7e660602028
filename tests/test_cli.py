"""The `accord` command end to end: one-line errors, token alone on stdout, import/export/lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from stix_factory import bundle, ip_indicator, malware, relationship

from accord.cli import main
from accord.db.schema import audit_log
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Any:
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(tmp_path / "data")]

    def run(*args: str, input: str | None = None, ok: bool = True) -> Any:
        result = runner.invoke(main, [*base, *args], input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.stderr)
        return result

    run("init")
    run("org", "add", "Policia Federal", "--sector", "law-enforcement", "--country", "BR")
    run("org", "add", "CERT Polska", "--sector", "csirt", "--country", "pl")
    run("org", "add", "Newcomer Bank", "--sector", "business", "--country", "KE", "--pending")
    run(
        "user",
        "add",
        "ana@pf.example",
        "--org",
        "Policia Federal",
        "--role",
        "analyst",
        "--password-stdin",
        input="a long enough password\n",
    )
    run("user", "add", "jan@cert.example", "--org", "CERT Polska", "--role", "analyst")
    run("user", "add", "kim@bank.example", "--org", "Newcomer Bank", "--role", "reader")
    run("group", "add", "LATAM fraud", "--owner", "Policia Federal", "--member", "CERT Polska")
    return run


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return str(path)


def test_token_is_printed_alone(cli: Any) -> None:
    out = cli("token", "create", "ana@pf.example", "--expires", "30").stdout
    assert out.count("\n") == 1 and out.startswith("acc_")


def test_import_export_lookup_explain(cli: Any, tmp_path: Path) -> None:
    shared = ip_indicator("198.51.100.5")
    secret = ip_indicator("198.51.100.6", TLP.RED)
    mal = malware("Grandoreiro", TLP.GREEN)
    rel = relationship(secret["id"], mal["id"], TLP.GREEN)
    path = write(tmp_path, "b.json", bundle([shared, secret, mal, rel]))
    result = cli(
        "import", path, "--as", "ana@pf.example", "--tlp", "amber", "--share-with", "group:LATAM fraud"
    )
    assert json.loads(result.stdout)["taken"]["stored"] == 4
    again = cli(
        "import", path, "--as", "ana@pf.example", "--tlp", "amber", "--share-with", "group:LATAM fraud"
    )
    assert json.loads(again.stdout)["taken"] == {
        "stored": 0,
        "unchanged": 4,
        "observables": 0,
        "overlaps": 0,
        "warninglisted": 0,
        "by_type": {},
    }

    exported = json.loads(cli("export", "--as", "jan@cert.example").stdout)
    ids = {o["id"] for o in exported["objects"]}
    assert {shared["id"], mal["id"], rel["id"]} <= ids and secret["id"] not in ids
    rel_out = next(o for o in exported["objects"] if o["id"] == rel["id"])
    assert "source_ref" not in rel_out  # the RED end is hidden from jan
    assert {o["name"] for o in exported["objects"] if o["type"] == "marking-definition"} == {
        "TLP:AMBER",
        "TLP:GREEN",
    }
    only = json.loads(cli("export", "--as", "jan@cert.example", "--type", "malware").stdout)
    assert [o["id"] for o in only["objects"] if o["type"] != "marking-definition"] == [mal["id"]]

    looked = json.loads(cli("lookup", "--as", "jan@cert.example", "198.51.100.5", "198.51.100.6").stdout)
    assert [len(r["matches"]) for r in looked] == [1, 0]
    pending = json.loads(cli("lookup", "--as", "kim@bank.example", "198.51.100.5").stdout)
    assert pending[0]["matches"] == []

    explained = cli("policy", "explain", "--as", "jan@cert.example", secret["id"]).stdout
    assert explained.startswith("HIDDEN") and "TLP:RED" in explained
    explained = cli("policy", "explain", "--as", "jan@cert.example", shared["id"]).stdout
    assert explained.startswith("VISIBLE") and "TLP:AMBER" in explained
    explained = cli("policy", "explain", "--as", "kim@bank.example", mal["id"]).stdout
    assert explained.startswith("HIDDEN") and "pending vetting" in explained


def test_import_from_stdin(cli: Any) -> None:
    text = json.dumps(bundle([ip_indicator("192.0.2.77", TLP.CLEAR)]))
    assert json.loads(cli("import", "-", "--as", "ana@pf.example", input=text).stdout)["taken"]["stored"] == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("org", "add", "X", "--sector", "business", "--country", "ZZ"), "country"),
        (("org", "add", "Policia Federal", "--sector", "business", "--country", "BR"), "exists already"),
        (("user", "add", "not-an-email", "--org", "CERT Polska", "--role", "reader"), "e-mail"),
        (("user", "add", "x@y.example", "--org", "Nowhere", "--role", "reader"), "no organisation"),
        (("token", "create", "ghost@nowhere.example"), "no user"),
        (("export", "--as", "ghost@nowhere.example"), "no user"),
        (
            (
                "policy",
                "explain",
                "--as",
                "jan@cert.example",
                "indicator--00000000-0000-4000-8000-000000000000",
            ),
            "no object",
        ),
    ],
)
def test_user_mistakes_are_one_line(cli: Any, args: tuple[str, ...], needle: str) -> None:
    result = cli(*args, ok=False)
    assert result.exit_code == 1
    assert needle in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_import_stores_nothing_and_names_the_place(cli: Any, tmp_path: Path) -> None:
    good = ip_indicator("192.0.2.1", TLP.GREEN)
    bad = dict(ip_indicator("192.0.2.2", TLP.GREEN), valid_from="yesterday")
    path = write(tmp_path, "bad.json", bundle([good, bad]))
    result = cli("import", path, "--as", "ana@pf.example", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert bad["id"] in result.stderr and "valid_from" in result.stderr
    exported = json.loads(cli("export", "--as", "ana@pf.example").stdout)
    assert exported["objects"] == []
    broken = write(tmp_path, "broken.json", '{"type": "bundle", "objects": [\n{"type": "x",\n')
    result = cli("import", broken, "--as", "ana@pf.example", ok=False)
    assert result.exit_code == 1 and "line" in result.stderr
    missing = cli("import", str(tmp_path / "absent.json"), "--as", "ana@pf.example", ok=False)
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_audit_verify_detects_tampering(cli: Any, tmp_path: Path, database_url: str) -> None:
    assert "intact" in cli("audit", "verify").stdout
    from accord.app import Accord
    from accord.settings import Settings

    app = Accord(Settings(database_url=database_url, data_dir=str(tmp_path / "data")))
    with app.db.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 3).values(target="org:someone-else"))
    app.close()
    result = cli("audit", "verify", ok=False)
    assert result.exit_code == 1 and "row 3" in result.stderr


def test_commands_need_a_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "empty"), "org", "list"])
    assert result.exit_code == 1 and "accord init" in result.stderr


def test_settings_are_documented() -> None:
    out = CliRunner().invoke(main, ["settings"]).stdout
    for name in ("ACCORD_DATABASE_URL", "ACCORD_PUBLIC_FEED", "ACCORD_MAX_BODY_BYTES", "ACCORD_AUDIT_KEY"):
        assert name in out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    from accord.settings import describe

    missing = [name for name, _d, _h in describe() if name not in readme]
    assert missing == [], f"settings missing from README: {missing}"
