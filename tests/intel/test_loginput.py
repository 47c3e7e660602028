"""Log readers and `match_stream`: every format's candidates and hits, bad lines, benign suppression."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel import loginput
from accord.intel.loginput import Summary, candidates, detect_format, match_stream
from accord.intel.matcher import Matcher
from accord.intel.observables import normalise

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def row(value: str, indicator_id: str) -> tuple[str, str, bytes | None, bytes | None, str]:
    o = normalise(value)
    return (o.kind, o.value, o.ip_lo, o.ip_hi, indicator_id)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(
        [
            row("198.51.100.7", "ind-ip"),
            row("10.20.0.0/16", "ind-net"),
            row("2001:db8::/32", "ind-net6"),
            row("example.com", "ind-dom"),
            row("login.bank.example", "ind-sub"),
            row("http://evil.example.net/payload.exe", "ind-url"),
            row("phisher@mail.example.org", "ind-mail"),
            row(MD5, "ind-md5"),
            row(SHA256, "ind-sha"),
        ]
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def run(matcher: Matcher, data: bytes, fmt: str = "auto", **kw: Any) -> tuple[list[tuple[Any, ...]], Summary]:
    """Hits as (line, field, input, kind, indicator, matched) and the summary."""
    summary = Summary()
    hits = [
        (h["line"], h.get("field"), h["input"], h["kind"], h["indicator_id"], h["matched"])
        for h in match_stream(matcher, io.BytesIO(data), fmt, summary=summary, **kw)
    ]
    return hits, summary


# ------------------------------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("dns_http.log", "zeek"),
        ("ssl.json", "zeek-json"),
        ("values.txt", "values"),
        ("indicators.csv", "csv"),
        ("noheader.csv", "csv"),
        ("proxy.txt", "text"),
    ],
)
def test_detect_format_of_each_fixture(name: str, fmt: str) -> None:
    assert detect_format(fixture(name)) == fmt


def test_detect_format_edges() -> None:
    assert detect_format(b"") == "values"
    assert detect_format(b'{"src_ip": "1.2.3.4"}\n') == "text"  # JSON, but not Zeek's
    assert detect_format(b"\xef\xbb\xbf1.2.3.4\nexample.com\n") == "values"
    assert detect_format(b"#fields\tts\tid.orig_h\n1\t1.2.3.4\n") == "zeek"
    assert detect_format(b"Jan 1 host sshd: failed login from 1.2.3.4 port 22\n") == "text"


# ------------------------------------------------------------------------------------------- formats


def test_zeek_tsv_fields_vectors_unset_and_http_urls(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("dns_http.log"))
    assert hits == [
        (9, "query", "www.example.com", "domain", "ind-dom", "example.com"),
        (9, "answers", "198.51.100.7", "exact", "ind-ip", "198.51.100.7"),
        (11, "id.resp_h", "2001:db8::53", "cidr", "ind-net6", "2001:db8::/32"),
        (11, "query", "LOGIN.BANK.EXAMPLE", "domain", "ind-sub", "login.bank.example"),
        (11, "answers", "2001:db8:aa::9", "cidr", "ind-net6", "2001:db8::/32"),
        (
            21,
            "uri",
            "http://evil.example.net/payload.exe",
            "url",
            "ind-url",
            "http://evil.example.net/payload.exe",
        ),
        (22, "referrer", "http://www.example.com/start", "domain", "ind-dom", "example.com"),
    ]
    assert summary.format == "zeek" and summary.lines == 22
    # 4 dns lines: 2 addresses each + query + answers (2, 0, 1, 0); the unset ones are not values.
    # 2 http lines: 2 addresses, host, referrer (1 unset) and the URL of host+uri.
    assert summary.values == (8 + 3 + 3) + (4 + 1 + 2 + 2)
    assert summary.hits == 7 and summary.hits_by_kind == {"domain": 3, "exact": 1, "cidr": 2, "url": 1}
    assert summary.unreadable == 0


def test_zeek_candidates_in_line_order() -> None:
    found = list(candidates(io.BytesIO(fixture("dns_http.log"))))
    assert found[:5] == [
        (9, "10.1.1.5"),
        (9, "10.1.1.1"),
        (9, "www.example.com"),
        (9, "cdn.example.net"),
        (9, "198.51.100.7"),
    ]
    assert (10, "(empty)") not in found and not any(v == "-" for _, v in found)
    assert (22, "http://files.example.org/a?b=c") in found


def test_zeek_json_lines_with_bad_lines(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("ssl.json"))
    assert hits == [
        (1, "cert_chain_fps", SHA256, "hash", "ind-sha", SHA256),
        (1, "id.resp_h", "198.51.100.7", "exact", "ind-ip", "198.51.100.7"),
        (1, "server_name", "mail.example.com", "domain", "ind-dom", "example.com"),
        (6, "id.orig_h", "10.20.30.40", "cidr", "ind-net", "10.20.0.0/16"),  # {"id": {...}} nested
    ]
    assert summary.lines == 6
    assert [n for n, _ in summary.unreadable_lines] == [3, 4]
    assert "not valid JSON" in summary.unreadable_lines[0][1]
    assert summary.unreadable_lines[1][1] == "not a JSON object"


def test_values_are_normalised_when_needed(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("values.txt"))
    assert [(h[0], h[2], h[3], h[4]) for h in hits] == [
        (2, "198.51.100.7", "exact", "ind-ip"),
        (4, "WWW.Example.COM", "domain", "ind-dom"),
        (6, "hxxp://evil[.]example[.]net/payload.exe", "url", "ind-url"),
        (7, "10.20.30.40", "cidr", "ind-net"),
        (8, "2001:DB8::1", "cidr", "ind-net6"),
        (9, MD5.upper(), "hash", "ind-md5"),
        (11, "phisher@mail.example.org", "exact", "ind-mail"),
    ]
    assert all(h[1] is None for h in hits)  # no field for one-value lines
    assert summary.values == 9  # comment and blank lines are not values; 'evilexample.com' is no hit


def test_csv_every_cell_with_header_names(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("indicators.csv"))
    assert hits == [
        (2, "dst_host", "www.example.com", "domain", "ind-dom", "example.com"),
        (3, "src_ip", "198.51.100.7", "exact", "ind-ip", "198.51.100.7"),
        (4, "dst_host", "a.b.example.com", "domain", "ind-dom", "example.com"),
    ]
    assert summary.values == 12  # the header row is not data


def test_csv_named_columns_only(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("indicators.csv"), columns=["SRC_IP"])
    assert hits == [(3, "src_ip", "198.51.100.7", "exact", "ind-ip", "198.51.100.7")]
    assert summary.values == 3
    with pytest.raises(InvalidInput, match="no column 'dst_ip'") as info:
        run(matcher, fixture("indicators.csv"), columns=["dst_ip"])
    assert info.value.where == {"line": 1}
    with pytest.raises(InvalidInput, match="no header row"):
        run(matcher, fixture("noheader.csv"), columns=["a"])
    with pytest.raises(InvalidInput, match="columns can only be named"):
        run(matcher, fixture("values.txt"), columns=["a"])


def test_csv_without_header_and_another_delimiter(matcher: Matcher) -> None:
    hits, _ = run(matcher, fixture("noheader.csv"))
    assert hits == [
        (1, "column 2", "www.example.com", "domain", "ind-dom", "example.com"),
        (2, "column 2", "login.bank.example", "domain", "ind-sub", "login.bank.example"),
    ]


def test_text_candidates_and_hits(matcher: Matcher) -> None:
    assert list(candidates(io.BytesIO(fixture("proxy.txt")))) == [
        (1, "10.1.1.5"),
        (1, "http://evil.example.net/payload.exe"),
        (2, "10.1.1.6"),
        (2, "cdn.example.com"),
        (2, "2001:db8::1"),
        (2, "phisher@mail.example.org"),
        (3, MD5),
        (4, "evilexample.com"),  # '1.2.3' and the time 12:00:01 are no candidates
    ]
    hits, _ = run(matcher, fixture("proxy.txt"))
    assert [(h[0], h[3], h[4]) for h in hits] == [
        (1, "url", "ind-url"),
        (2, "domain", "ind-dom"),
        (2, "cidr", "ind-net6"),
        (2, "exact", "ind-mail"),
        (3, "hash", "ind-md5"),
    ]


def test_text_finds_defanged_values(matcher: Matcher) -> None:
    text = (
        b"report: C2 at hxxp://evil[.]example[.]net/payload.exe and 198.51.100[.]7,"
        b" mail phisher[at]mail[.]example[.]org\n"
    )
    assert [v for _, v in candidates(io.BytesIO(text), "text")] == [
        "hxxp://evil[.]example[.]net/payload.exe",
        "198.51.100[.]7",
        "phisher[at]mail[.]example[.]org",
    ]
    hits, _ = run(matcher, text, "text")
    assert [h[4] for h in hits] == ["ind-url", "ind-ip", "ind-mail"]


# ---------------------------------------------------------------------------------- unreadable input


def test_bad_utf8_lines_are_listed_and_the_rest_is_read(matcher: Matcher) -> None:
    data = b"example.com\n\xff\xfebroken\n198.51.100.7\nmore\xc3(\n"
    hits, summary = run(matcher, data, "values")
    assert [(h[0], h[4]) for h in hits] == [(1, "ind-dom"), (3, "ind-ip")]
    assert summary.lines == 4 and summary.unreadable == 2
    assert [n for n, _ in summary.unreadable_lines] == [2, 4]
    assert "not valid UTF-8" in summary.unreadable_lines[0][1]


def test_zeek_data_before_a_header_and_short_lines(matcher: Matcher) -> None:
    data = (
        b"1\t198.51.100.7\n"  # no header yet
        b"#fields\tts\tid.orig_h\tquery\n#types\ttime\taddr\tstring\n"
        b"2\t198.51.100.7\twww.example.com\n"
        b"3\t198.51.100.7\n"  # short: the missing field is unset
        b"\n"
        b"4\t10.1.1.1\tx.example.com\textra\n"  # long: the extra field is ignored
    )
    hits, summary = run(matcher, data, "zeek")
    assert [(h[0], h[1], h[4]) for h in hits] == [
        (4, "id.orig_h", "ind-ip"),
        (4, "query", "ind-dom"),
        (5, "id.orig_h", "ind-ip"),
        (7, "query", "ind-dom"),
    ]
    assert summary.unreadable_lines == [(1, 'Zeek data before any "#fields" header')]


@pytest.mark.parametrize("separator", ["\\x", "\\xZZ", "\\", "\\N{TAB}", "\\q", "ab", "\\x0a"])
def test_a_bad_zeek_separator_is_reported_and_the_tab_kept(matcher: Matcher, separator: str) -> None:
    data = f"#separator {separator}\n#fields\tts\tquery\n1\twww.example.com\n".encode()
    hits, summary = run(matcher, data, "zeek")
    assert [(h[0], h[1], h[4]) for h in hits] == [(3, "query", "ind-dom")]
    assert summary.unreadable_lines == [(1, f"#separator {separator!r} is not one character; kept '\\t'")]


def test_another_zeek_separator(matcher: Matcher) -> None:
    data = b"#separator \\x7c\n#fields|ts|query|answers\n1|www.example.com|a.example.org,198.51.100.7\n"
    hits, summary = run(matcher, data, "zeek")
    assert [(h[0], h[1], h[2]) for h in hits] == [
        (3, "query", "www.example.com"),
        (3, "answers", "198.51.100.7"),
    ]
    assert summary.unreadable == 0


def test_overlong_lines_are_skipped(matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loginput, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(loginput, "CHUNK_BYTES", 64)
    data = b"example.com\n" + b"x" * 500 + b"\n198.51.100.7\n" + b"y" * 300
    hits, summary = run(matcher, data, "values")
    assert [(h[0], h[4]) for h in hits] == [(1, "ind-dom"), (3, "ind-ip")]
    assert summary.lines == 4
    assert [n for n, _ in summary.unreadable_lines] == [2, 4]
    assert "longer than" in summary.unreadable_lines[0][1]


def test_gzip_and_unseekable_input(matcher: Matcher) -> None:
    class Pipe(io.RawIOBase):
        """stdin-like: read only, no seek."""

        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self.data.read(min(len(b), 7))  # short reads, as pipes give
            b[: len(chunk)] = chunk
            return len(chunk)

    plain, _ = run(matcher, fixture("dns_http.log"))
    summary = Summary()
    stream = io.BufferedReader(Pipe(gzip.compress(fixture("dns_http.log"))))
    got = [(h["line"], h["field"], h["input"]) for h in match_stream(matcher, stream, summary=summary)]
    assert got == [h[:3] for h in plain] and summary.format == "zeek"
    whole = gzip.compress("".join(f"{i}.example.com\n" for i in range(50000)).encode())
    hits, summary = run(matcher, whole[: len(whole) // 2], "values")
    assert 0 < len(hits) < 50000 and hits[-1][0] == len(hits)  # every line read before the break hits
    assert summary.unreadable == 1 and "compressed input is broken" in summary.unreadable_lines[0][1]


def test_bad_arguments_are_refused(matcher: Matcher) -> None:
    with pytest.raises(InvalidInput, match="unknown log format 'pcap'"):
        run(matcher, b"1.2.3.4\n", "pcap")
    with pytest.raises(InvalidInput, match="UTF-16") as info:
        run(matcher, "1.2.3.4\n".encode("utf-16"))
    assert info.value.where == {"line": 1}


# --------------------------------------------------------------------------------------------- benign


def test_benign_hits_are_suppressed_counted_and_asked_once(matcher: Matcher) -> None:
    asked: list[tuple[str, str]] = []

    def benign(kind: str, value: str) -> str | None:
        asked.append((kind, value))
        return "public-cdn" if value.endswith("example.com") else None

    data = "\n".join(
        [
            "www.example.com",
            "198.51.100.7",
            "www.example.com",
            "mail.example.com",
            "nothing.example.org",  # no hit: never asked about
            "10.1.1.1",
            "phisher@MAIL.example.org",
            MD5.upper(),
            "2001:db8::5",
            "hxxp://evil.example.net/payload.exe",
        ]
    ).encode()
    hits, summary = run(matcher, data, "values", benign=benign)
    assert [(h[0], h[4]) for h in hits] == [
        (2, "ind-ip"),
        (7, "ind-mail"),
        (8, "ind-md5"),
        (9, "ind-net6"),
        (10, "ind-url"),
    ]
    assert summary.hits == 5 and summary.benign == 3 and summary.benign_by_list == {"public-cdn": 3}
    assert summary.hits_by_kind == {"exact": 2, "hash": 1, "cidr": 1, "url": 1}
    # Only values with hits are asked about, each distinct one once, normalised, by observable kind.
    assert sorted(asked) == [
        ("domain", "mail.example.com"),
        ("domain", "www.example.com"),
        ("email", "phisher@mail.example.org"),
        ("ipv4", "198.51.100.7"),
        ("ipv6", "2001:db8::5"),
        ("md5", MD5),
        ("url", "http://evil.example.net/payload.exe"),
    ]
    assert summary.as_dict()["benign_by_list"] == {"public-cdn": 3}


def test_zeek_json_http_urls_and_named_fields(matcher: Matcher) -> None:
    data = (
        b'{"_path":"http","uid":"H1","id.orig_h":"10.1.1.5","id.resp_h":"203.0.113.80",'
        b'"host":"evil.example.net","uri":"/payload.exe","tx_hosts":["198.51.100.7","10.1.1.9"]}\n'
        b'{"_path":"http","uid":"H2","id.orig_h":"198.51.100.7","host":"a.example.com","uri":"/"}\n'
    )
    hits, summary = run(matcher, data)
    assert [(h[0], h[1], h[2], h[4]) for h in hits] == [
        (1, "tx_hosts", "198.51.100.7", "ind-ip"),
        (1, "uri", "http://evil.example.net/payload.exe", "ind-url"),
        (2, "host", "a.example.com", "ind-dom"),
        (2, "id.orig_h", "198.51.100.7", "ind-ip"),
        (2, "uri", "http://a.example.com/", "ind-dom"),
    ]
    assert summary.values == 6 + 3  # addresses and hosts, and one URL per line
    only, _ = run(matcher, data, columns=["id.orig_h"])
    assert [(h[0], h[1]) for h in only] == [(2, "id.orig_h")]


def test_zeek_tsv_named_fields_only(matcher: Matcher) -> None:
    hits, summary = run(matcher, fixture("dns_http.log"), columns=["answers", "id.resp_h"])
    assert [(h[0], h[1]) for h in hits] == [(9, "answers"), (11, "id.resp_h"), (11, "answers")]
    assert summary.as_dict()["values"] == summary.values == (4 + 3) + 2  # dns: resp_h, answers; http: resp_h


def test_candidates_fill_a_summary() -> None:
    summary = Summary()
    found = list(candidates(io.BytesIO(fixture("ssl.json")), summary=summary))
    assert len(found) == summary.values == 9 and summary.format == "zeek-json" and summary.unreadable == 2
    assert summary.as_dict()["unreadable_lines"][0]["line"] == 3


# ------------------------------------------------------------------------ chunking and a reference


def naive_zeek(matcher: Matcher, text: str) -> list[tuple[int, str, str, str]]:
    """Line by line, field by field: what match_stream must find in a one-header Zeek TSV log."""
    lines = text.split("\n")
    fields = lines[0].split("\t")[1:]
    types = lines[1].split("\t")[1:]
    out = []
    for number, line in enumerate(lines[2:], 3):
        if not line:
            continue
        for name, type_, value in zip(fields, types, line.split("\t"), strict=False):
            if type_ not in ("addr", "set[addr]", "vector[addr]") and name not in ("query", "answers"):
                continue
            for v in value.split(",") if type_.startswith(("set", "vector")) else [value]:
                if v not in ("-", "(empty)"):
                    out += [(number, name, v, h.indicator_id) for h in matcher.match(v)]
    return out


_ZEEK_VALUES = st.sampled_from(
    ["198.51.100.7", "10.20.1.2", "10.21.1.2", "2001:db8::1", "www.example.com", "EXAMPLE.COM.", "x.org", "-"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(_ZEEK_VALUES, _ZEEK_VALUES, st.lists(_ZEEK_VALUES, max_size=3), st.booleans()), max_size=40
    ),
    chunk=st.integers(16, 400),
)
def test_zeek_stream_agrees_with_a_line_by_line_reading(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch, rows: list[Any], chunk: int
) -> None:
    monkeypatch.setattr(loginput, "CHUNK_BYTES", chunk)
    head = (
        "#fields\tts\tid.orig_h\tquery\tanswers\tnote\n#types\ttime\taddr\tstring\tvector[string]\tstring\n"
    )
    body = "".join(
        f"{i}\t{a}\t{q}\t{','.join(ans) or '(empty)'}\t{'198.51.100.7' if note else '-'}\n"
        for i, (a, q, ans, note) in enumerate(rows)
    )
    got = [
        (h["line"], h["field"], h["input"], h["indicator_id"])
        for h in match_stream(matcher, io.BytesIO((head + body).encode()), "zeek")
    ]
    assert got == naive_zeek(matcher, head + body)


def test_line_numbers_survive_small_chunks(matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {
        name: run(matcher, fixture(name)) for name in ("dns_http.log", "ssl.json", "values.txt", "proxy.txt")
    }
    monkeypatch.setattr(loginput, "CHUNK_BYTES", 50)
    for name, (hits, summary) in expected.items():
        small_hits, small_summary = run(matcher, fixture(name), detect_format(fixture(name)))
        assert small_hits == hits, name
        assert (small_summary.lines, small_summary.values) == (summary.lines, summary.values), name


# ----------------------------------------------------------------------------------------- real logs


def _real(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt") as fh:
        yield from fh


@pytest.mark.corpus
def test_real_zeek_dns_tsv_and_json_agree() -> None:
    base = shared_data("zeek-sample-logs-wrccdc")
    tsv_lines = list(_real(base / "zeek-default" / "dns.log.gz"))
    data = [line.rstrip("\n").split("\t") for line in tsv_lines if not line.startswith("#")]
    popular = Counter(r[9] for r in data).most_common(1)[0][0]  # planted: the commonest name
    rare_answer = next(r[21].split(",")[-1] for r in data if r[21] not in ("-", "(empty)"))
    m = Matcher([row(popular, "ind-q"), row(rare_answer, "ind-a")])
    expected_q = sum(1 for r in data if r[9] == popular) + sum(
        1 for r in data if popular in r[21].split(",")
    )  # the name as a query, and among the answers
    with open(base / "zeek-default" / "dns.log.gz", "rb") as fp:
        tsv_summary = Summary()
        tsv = [(h["field"], h["input"], h["indicator_id"]) for h in match_stream(m, fp, summary=tsv_summary)]
    with open(base / "zeek-json" / "dns.json.gz", "rb") as fp:
        json_summary = Summary()
        js = [(h["field"], h["input"], h["indicator_id"]) for h in match_stream(m, fp, summary=json_summary)]
    assert tsv_summary.format == "zeek" and json_summary.format == "zeek-json"
    assert tsv_summary.lines == len(tsv_lines) and tsv_summary.unreadable == json_summary.unreadable == 0
    assert sum(1 for _, _, i in tsv if i == "ind-q") == expected_q
    assert any(i == "ind-a" for _, _, i in tsv)
    assert sorted(tsv) == sorted(js) and tsv_summary.values == json_summary.values
