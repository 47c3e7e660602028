"""The contact-point directory: records checked field by field, CSV/JSON imported whole or not at
all (every bad record named by line and field), and each organisation managing only its own."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import json
from typing import Any

import pytest
from routing_helpers import pgp_private_key, pgp_public_key, routed

from accord.errors import BatchRefused, Forbidden, InvalidInput, NotFound
from accord.members.model import OPERATOR
from accord.routing.contacts import check_record, parse_contacts, pgp_fingerprint


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    record, problems = check_record(raw)
    assert record is None
    return dict(problems)


def test_a_good_record_is_normalised() -> None:
    record, problems = check_record(
        {"name": " CERT Polska ", "kind": "CSIRT", "countries": "pl, de", "asns": ["AS8308", 12827],
         "cidrs": "195.187.0.0/16 2001:db8::/32", "domains": ["*.Example.PL"], "email": "CERT@Cert.PL",
         "languages": "pl en", "timezone": "Europe/Warsaw", "pgp_key": pgp_public_key()}
    )  # fmt: skip
    assert problems == [] and record is not None
    assert (record.name, record.kind, record.countries, record.asns) == (
        "CERT Polska",
        "csirt",
        ("PL", "DE"),
        (8308, 12827),
    )
    assert record.cidrs == ("195.187.0.0/16", "2001:db8::/32") and record.domains == ("example.pl",)
    assert (record.email, record.channel, record.format, record.languages) == (
        "cert@cert.pl",
        "email",
        "xarf",
        ("pl", "en"),
    )
    assert record.pgp_fingerprint is not None and len(record.pgp_fingerprint) == 40


def test_bad_fields_are_each_named() -> None:
    got = _problems(
        {"name": "x", "kind": "police", "countries": ["PL", "XX"], "asns": ["ASX"], "cidrs": ["999.1.1.1/8"],
         "email": "not-an-address", "timezone": "Mars/Olympus", "languages": ["english"], "channel": "fax",
         "colour": "red"}
    )  # fmt: skip
    assert set(got) == {
        "kind",
        "countries",
        "asns",
        "cidrs",
        "email",
        "timezone",
        "languages",
        "channel",
        "colour",
    }
    assert "XX" in got["countries"] and "ISO 3166-1" in got["countries"]
    assert "not a valid e-mail address" in got["email"]
    assert "IANA" in got["timezone"]


def test_channels_need_their_address_and_taxii_takes_stix() -> None:
    assert "needs an e-mail address" in _problems({"name": "a", "kind": "abuse"})["email"]
    assert "needs a URL" in _problems({"name": "a", "kind": "abuse", "channel": "webhook"})["url"]
    assert (
        "STIX only"
        in _problems(
            {"name": "a", "kind": "csirt", "channel": "taxii", "url": "https://t.example/c/", "format": "csv"}
        )["format"]
    )
    assert (
        "user name or password"
        in _problems(
            {"name": "a", "kind": "csirt", "channel": "webhook", "url": "https://u:p@hook.example/"}
        )["url"]
    )


def test_pgp_keys_must_parse_be_public_and_encrypt() -> None:
    assert len(pgp_fingerprint(pgp_public_key())) == 40
    with pytest.raises(InvalidInput, match="does not parse"):
        pgp_fingerprint(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"
        )
    with pytest.raises(InvalidInput, match="private key"):
        pgp_fingerprint(pgp_private_key())
    with pytest.raises(InvalidInput, match="no key that can encrypt"):
        pgp_fingerprint(pgp_public_key(encrypting=False))
    got = _problems({"name": "a", "kind": "csirt", "email": "a@b.example", "pgp_key": "garbage"})
    assert "does not parse" in got["pgp_key"]


def test_csv_import_names_every_bad_record_by_line_and_field() -> None:
    key = pgp_public_key().replace('"', '""')
    text = (
        "name,kind,countries,email,pgp_key\n"
        "CERT A,csirt,PL,a@cert.example,\n"
        f'CERT B,csirt,DE,b@cert.example,"{key}"\n'  # a quoted key spans many lines
        "CERT C,csirt,QQ,c@cert.example,\n"
        "CERT D,csirt,FR,bad address,\n"
    )
    with pytest.raises(BatchRefused) as refused:
        parse_contacts(text.encode(), "csv")
    where = [(p.where["record"], p.where["line"], p.where["field"]) for p in refused.value.problems]
    first_after_key = 3 + key.count("\n") + 1
    assert where == [(3, first_after_key, "countries"), (4, first_after_key + 1, "email")]
    good = parse_contacts("\n".join(text.splitlines()[: 3 + key.count("\n")]) + "\n", "csv")
    assert [r.name for _w, r in good] == ["CERT A", "CERT B"] and good[1][1].pgp_fingerprint


def test_json_import_names_records_and_their_lines() -> None:
    records = [
        {"name": "A", "kind": "abuse", "asns": [64500], "email": "abuse@a.example"},
        {"name": "B", "kind": "abuse", "asns": ["sixty"], "email": "abuse@b.example"},
        {"name": "A", "kind": "abuse", "email": "abuse@c.example"},
    ]
    text = json.dumps({"contacts": records}, indent=2)
    with pytest.raises(BatchRefused) as refused:
        parse_contacts(text, "json")
    got = [(p.where["record"], p.where["field"], p.where["line"]) for p in refused.value.problems]
    assert got == [(2, "asns", 11), (3, "name", 19)]  # the lines their objects open on
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_contacts("[{", "json")
    with pytest.raises(InvalidInput, match="unknown column"):
        parse_contacts("name,kind,colour\n", "csv")


@pytest.mark.store
def test_an_import_is_all_or_nothing_and_org_admins_manage_only_their_own(routed: Any) -> None:
    app = routed.app
    admin = routed.viewer("admin@cert.pl")
    analyst = routed.viewer("analyst@cert.pl")
    before = app.contacts(OPERATOR)
    text = (
        "name,kind,org,countries,email\n"
        "PL second desk,csirt,,PL,desk2@cert.pl\n"
        "Not ours,csirt,CERT.br,BR,x@cert.br\n"
    )
    with pytest.raises(BatchRefused) as refused:
        app.import_contacts(admin, text.encode(), "csv")
    assert refused.value.problems[0].where == {"record": 2, "line": 3, "field": "org"}
    assert app.contacts(OPERATOR) == before  # nothing half-imported
    done = app.import_contacts(admin, text.encode().rsplit(b"Not ours", 1)[0], "csv")
    assert done["added"] == 1
    mine = next(c for c in app.contacts(admin) if c["name"] == "PL second desk")
    assert (mine["org"], mine["curated"]) == ("CERT Polska", False)
    # An analyst may read the directory but not change it; nobody changes another org's entries.
    with pytest.raises(Forbidden):
        app.update_contact(analyst, mine["id"], {"hours": "9-17"})
    brazil = next(c for c in app.contacts(admin) if c["name"] == "CERT.br")
    with pytest.raises(Forbidden):
        app.update_contact(admin, brazil["id"], {"email": "mine@cert.pl"})
    with pytest.raises(Forbidden):
        app.remove_contact(admin, brazil["id"])
    assert app.update_contact(admin, mine["id"], {"hours": "Mon-Fri 8-16"})["hours"] == "Mon-Fri 8-16"
    with pytest.raises(InvalidInput, match="unknown country"):
        app.update_contact(admin, mine["id"], {"countries": ["ZZ"]})
    app.remove_contact(admin, mine["id"])
    with pytest.raises(NotFound):
        app.contact(admin, mine["id"])
    # The operator re-imports by name (replacing), and an existing name is refused without replace.
    again = json.dumps([{"name": "CERT.br", "kind": "csirt", "org": "CERT.br", "countries": ["BR", "PT"],
                         "email": "cert@cert.br"}])  # fmt: skip
    assert app.import_contacts(OPERATOR, again.encode(), "json")["replaced"] == 1
    assert app.contact(OPERATOR, brazil["id"])["countries"] == ["BR", "PT"]
    with pytest.raises(BatchRefused, match="exists already"):
        app.import_contacts(OPERATOR, again.encode(), "json", replace=False)
    assert [c["name"] for c in app.contacts(admin, country="PT")] == ["CERT.br"]
