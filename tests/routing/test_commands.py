"""`accord enrich` through click's CliRunner on the command object itself (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from accord.routing.commands import enrich
from accord.routing.enrich import FIELDS


def _run(*args: str, input: str | None = None, code: int = 0) -> Any:
    result = CliRunner().invoke(enrich, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def _lines(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_values_as_arguments() -> None:
    rows = _lines(_run("8.8.8.8", "https://www.bbc.co.uk/news", "2606:4700::1111"))
    assert [r["value"] for r in rows] == ["8.8.8.8", "https://www.bbc.co.uk/news", "2606:4700::1111"]
    assert all(tuple(r) == FIELDS for r in rows)
    google, bbc, cloudflare = rows
    assert (google["country"], google["asn"], google["operator"], google["abuse_email"]) == (
        "US",
        15169,
        "Google LLC",
        "network-abuse@google.com",
    )
    assert (bbc["registrable_domain"], bbc["tld"], bbc["tld_country"]) == ("bbc.co.uk", "uk", "GB")
    assert cloudflare["asn"] == 13335
    assert google["source"]["network"]["name"] == "plevin-db-network"


def test_stdin_one_value_a_line_in_batches() -> None:
    values = [f"8.8.8.{i % 256}" for i in range(1500)] + ["", "example.org", "1.1.1.1"]
    result = _run("-", input="\n".join(values) + "\n")
    rows = _lines(result)
    assert len(rows) == 1502  # the blank line is skipped
    assert all(r["asn"] == 15169 for r in rows[:1500])
    assert rows[1500]["registrable_domain"] == "example.org"
    assert rows[1501]["asn"] == 13335
    assert result.stderr == ""


def test_stdin_mixed_with_arguments_keeps_order() -> None:
    rows = _lines(_run("1.1.1.1", "-", "8.8.8.8", input="example.com\n"))
    assert [r["value"] for r in rows] == ["1.1.1.1", "example.com", "8.8.8.8"]


def test_bad_values_get_error_objects_and_a_count() -> None:
    result = _run("1.2.3.999", "8.8.8.8", "d41d8cd98f00b204e9800998ecf8427e", "-", input="\xff\xfe bad\n")
    rows = _lines(result)
    assert [r["error"] is None for r in rows] == [False, True, False, False]
    assert "not a valid IPv4 address" in rows[0]["error"]
    assert "MD5 hash" in rows[2]["error"]
    assert "3 of 4 values could not be enriched" in result.stderr


def test_operator_data_and_sources(tmp_path: Path) -> None:
    csv = tmp_path / "asn.csv"
    csv.write_text("8.8.8.0,8.8.8.255,64500,Local Name\n8.8.9.0,8.8.8.0,64500,backwards\n")
    result = _run("--data", str(csv), "8.8.8.8")
    (row,) = _lines(result)
    assert (row["asn"], row["operator"]) == (64500, "Local Name")
    assert row["source"]["network"]["name"] == "csv:asn.csv"
    assert "skipped: asn.csv line 2: range 8.8.9.0..8.8.8.0 ends before it starts" in result.stderr
    sources = _lines(_run("--data", str(csv), "--sources"))
    assert [(s["answers"], s["name"]) for s in sources] == [
        ("country", "iptocc"),
        ("network", "csv:asn.csv"),
        ("network", "plevin-db-network"),
        ("domain", "publicsuffixlist"),
    ]
    (only,) = _lines(_run("--data", str(csv), "--no-embedded", "1.1.1.1"))
    assert only["asn"] is None and only["country"] is None and only["source"] == {}


def test_bad_data_file_and_no_values_are_one_line_errors(tmp_path: Path) -> None:
    result = _run("--data", str(tmp_path / "nope.mmdb"), "8.8.8.8", code=1)
    assert result.stderr.strip() == f"Error: enrichment data file not found: {tmp_path / 'nope.mmdb'}"
    assert result.stdout == ""
    (tmp_path / "junk.mmdb").write_bytes(b"junk")
    result = _run("--data", str(tmp_path / "junk.mmdb"), "8.8.8.8", code=1)
    assert "junk.mmdb is not a readable MaxMind DB file" in result.stderr
    result = _run(code=2)
    assert "give values to enrich, or '-'" in result.stderr
