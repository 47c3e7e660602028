"""The contact-point directory: who can act on abused infrastructure, and how they want to hear.

Three kinds of contact, shaped like FIRST / Trusted Introducer team records (DOMAIN.md §6): national
CERTs/CSIRTs (`csirt`), law-enforcement 24/7 contact points under Budapest Convention Art. 35
(`law-enforcement`) and network abuse desks (`abuse`). Each has a constituency (countries, AS numbers,
networks, domain suffixes), languages, hours and time zone, an optional PGP public key (checked to
parse, and to be able to encrypt), a preferred channel (email, webhook, taxii) and format (xarf, csv,
stix).

Who manages what: the operator (and platform administrators) curate any entry, for a member
organisation or for a contact outside the alliance; an organisation's org-admins manage their own
organisation's entries. A curated abuse desk covering a network wins over the abuse mailbox the
enrichment data names for it (the "automatic" contact, see `engine`).

Records come one at a time (façade, API, CLI) or in bulk from CSV or JSON; every record is checked
first and every problem named by record, line and field, and a bulk import is stored whole or not at
all (`BatchRefused`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, select, update

from accord import audit
from accord.db import new_id
from accord.db.schema import contact_point, contact_scope, org
from accord.errors import BatchRefused, Conflict, Forbidden, InvalidInput, NotFound, Problem
from accord.intel.observables import normalise_row
from accord.intel.timestamps import format_micros, now_micros
from accord.members.model import Permission, Viewer
from accord.members.service import normalise_email
from accord.routing.countries import country_code

__all__ = [
    "CHANNELS",
    "FORMATS",
    "KINDS",
    "ContactRecord",
    "check_record",
    "parse_contacts",
    "pgp_fingerprint",
]

KINDS = ("csirt", "law-enforcement", "abuse")
CHANNELS = ("email", "webhook", "taxii")
FORMATS = ("xarf", "csv", "stix")
SCOPES = ("countries", "asns", "cidrs", "domains")
FIELDS = (
    "name", "kind", "org", "channel", "format", "email", "url", "languages", "hours", "timezone",
    "phone", "pgp_key", "enabled", *SCOPES,
)  # fmt: skip
_SPLIT = re.compile(r"[\s,;|]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_PHONE = re.compile(r"\+?[0-9 ()./-]{4,40}")
MAX_ASN = 4_294_967_295


@dataclass(frozen=True)
class ContactRecord:
    """One contact point, checked and normalised (see `check_record`)."""

    name: str
    kind: str
    org: str | None  # the member organisation's name; None: outside the alliance
    channel: str
    format: str
    email: str | None
    url: str | None
    languages: tuple[str, ...]
    hours: str
    timezone: str
    phone: str | None
    pgp_key: str | None
    pgp_fingerprint: str | None
    enabled: bool
    countries: tuple[str, ...] = ()
    asns: tuple[int, ...] = ()
    cidrs: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def scope_rows(self) -> list[tuple[str, str]]:
        return (
            [("country", c) for c in self.countries]
            + [("asn", str(a)) for a in self.asns]
            + [("cidr", c) for c in self.cidrs]
            + [("domain", d) for d in self.domains]
        )


# --- checking one record -----------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """A list field given as a JSON array or as text separated by spaces, commas or semicolons."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")]
    if isinstance(value, str):
        return [v for v in _SPLIT.split(value.strip()) if v]
    return [value]


def _text(value: Any, name: str, limit: int, problems: list[tuple[str, str]]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append((name, f"must be text, not {type(value).__name__}"))
        return None
    text = value.strip()
    if len(text) > limit:
        problems.append((name, f"is longer than {limit} characters"))
        return None
    return text or None


def pgp_fingerprint(armoured: str) -> str:
    """The fingerprint of an ASCII-armoured PGP public key that can encrypt; InvalidInput otherwise."""
    with warnings.catch_warnings():  # pgpy imports imghdr and warns about old algorithms
        warnings.simplefilter("ignore")
        import pgpy
        from pgpy.constants import PubKeyAlgorithm

        try:
            key, _ = pgpy.PGPKey.from_blob(armoured)
        except Exception as exc:  # pgpy raises ValueError, PGPError, and worse for garbage
            raise InvalidInput(f"the PGP key does not parse: {exc}", field="pgp_key") from None
        if not key.is_public:
            raise InvalidInput("this is a PGP private key: give the public key only", field="pgp_key")
        encrypting = {
            PubKeyAlgorithm.RSAEncryptOrSign,
            PubKeyAlgorithm.RSAEncrypt,
            PubKeyAlgorithm.ElGamal,
            PubKeyAlgorithm.ECDH,
        }
        if not any(k.key_algorithm in encrypting for k in [key, *key.subkeys.values()]):
            raise InvalidInput(
                "the PGP key has no key that can encrypt (add an encryption subkey)", field="pgp_key"
            )
        return str(key.fingerprint).replace(" ", "")


def _url(value: Any, problems: list[tuple[str, str]]) -> str | None:
    text = _text(value, "url", 2048, problems)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(("url", f"{text!r} is not an http(s) URL"))
        return None
    if parts.username or parts.password:
        problems.append(
            ("url", "a URL with a user name or password in it is refused; use the contact's token")
        )
        return None
    return text


def _scopes(raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, tuple[Any, ...]]:
    countries: list[str] = []
    for c in _items(raw.get("countries", raw.get("country"))):
        code = country_code(c)
        if code is None:
            problems.append(("countries", f"unknown country {c!r} (want an ISO 3166-1 alpha-2 code)"))
        elif code not in countries:
            countries.append(code)
    asns: list[int] = []
    for a in _items(raw.get("asns", raw.get("asn"))):
        text = str(a).strip().upper().removeprefix("AS")
        if not text.isdigit() or not 0 < int(text) <= MAX_ASN or isinstance(a, bool):
            problems.append(("asns", f"{a!r} is not an AS number"))
        elif int(text) not in asns:
            asns.append(int(text))
    cidrs: list[str] = []
    for n in _items(raw.get("cidrs", raw.get("cidr"))):
        try:
            kind, value, _lo, _hi = normalise_row(str(n))
        except InvalidInput as exc:
            problems.append(("cidrs", exc.detail))
            continue
        if kind not in ("ipv4", "ipv6"):
            problems.append(("cidrs", f"{n!r} is not a network (CIDR)"))
        elif value not in cidrs:
            cidrs.append(value)
    domains: list[str] = []
    for d in _items(raw.get("domains", raw.get("domain"))):
        text = str(d).strip().removeprefix("*.").removeprefix(".")
        try:
            _kind, value, _lo, _hi = normalise_row(text, "domain")
        except InvalidInput as exc:
            problems.append(("domains", exc.detail))
            continue
        if value not in domains:
            domains.append(value)
    return {
        "countries": tuple(countries),
        "asns": tuple(asns),
        "cidrs": tuple(cidrs),
        "domains": tuple(domains),
    }


def check_record(raw: Mapping[str, Any]) -> tuple[ContactRecord | None, list[tuple[str, str]]]:
    """A record checked field by field: (the record, []) or (None, [(field, problem), …])."""
    problems: list[tuple[str, str]] = []
    unknown = sorted(k for k in raw if k not in FIELDS and k not in ("country", "asn", "cidr", "domain"))
    for k in unknown:
        problems.append((str(k), f"unknown field (known: {', '.join(FIELDS)})"))
    name = _text(raw.get("name"), "name", 200, problems)
    if name is None and not any(f == "name" for f, _ in problems):
        problems.append(("name", "a contact point needs a name"))
    kind = _text(raw.get("kind"), "kind", 20, problems)
    if kind is None or kind.lower() not in KINDS:
        problems.append(("kind", f"{raw.get('kind')!r} is not one of {', '.join(KINDS)}"))
    channel = (_text(raw.get("channel"), "channel", 16, problems) or "email").lower()
    if channel not in CHANNELS:
        problems.append(("channel", f"{channel!r} is not one of {', '.join(CHANNELS)}"))
    fmt = (
        _text(raw.get("format"), "format", 8, problems) or ("stix" if channel == "taxii" else "xarf")
    ).lower()
    if fmt not in FORMATS:
        problems.append(("format", f"{fmt!r} is not one of {', '.join(FORMATS)}"))
    elif channel == "taxii" and fmt != "stix":
        problems.append(("format", "a TAXII collection takes STIX only"))
    email = _text(raw.get("email"), "email", 320, problems)
    if email is not None:
        try:
            email = normalise_email(email)
        except InvalidInput as exc:
            problems.append(("email", exc.detail))
            email = None
    url = _url(raw.get("url"), problems)
    if channel == "email" and email is None and not any(f == "email" for f, _ in problems):
        problems.append(("email", "the email channel needs an e-mail address"))
    if channel in ("webhook", "taxii") and url is None and not any(f == "url" for f, _ in problems):
        problems.append(("url", f"the {channel} channel needs a URL"))
    languages = [str(x).strip() for x in _items(raw.get("languages"))] or ["en"]
    for lang in languages:
        if not _LANGUAGE.fullmatch(lang):
            problems.append(("languages", f"{lang!r} is not a language code (ISO 639, e.g. en, pt-BR)"))
    hours = _text(raw.get("hours"), "hours", 200, problems) or ""
    tz = _text(raw.get("timezone"), "timezone", 64, problems) or "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(("timezone", f"{tz!r} is not an IANA time zone (e.g. Europe/Warsaw, UTC)"))
    phone = _text(raw.get("phone"), "phone", 64, problems)
    if phone is not None and not _PHONE.fullmatch(phone):
        problems.append(("phone", f"{phone!r} is not a telephone number"))
    pgp_key = _text(raw.get("pgp_key"), "pgp_key", 100_000, problems)
    fingerprint = None
    if pgp_key is not None:
        try:
            fingerprint = pgp_fingerprint(pgp_key)
        except InvalidInput as exc:
            problems.append(("pgp_key", exc.detail))
    enabled = raw.get("enabled", True)
    if isinstance(enabled, str):
        enabled = enabled.strip().lower() not in ("0", "false", "no", "off")
    org_name = _text(raw.get("org"), "org", 200, problems)
    scopes = _scopes(raw, problems)
    if problems:
        return None, problems
    assert name is not None and kind is not None
    return (
        ContactRecord(
            name=name,
            kind=kind.lower(),
            org=org_name,
            channel=channel,
            format=fmt,
            email=email,
            url=url,
            languages=tuple(languages),
            hours=hours,
            timezone=tz,
            phone=phone,
            pgp_key=pgp_key,
            pgp_fingerprint=fingerprint,
            enabled=bool(enabled),
            **scopes,
        ),
        [],
    )


# --- reading CSV and JSON ------------------------------------------------------------------------------


def _json_records(text: str) -> list[tuple[dict[str, Any], Any]]:
    """(where, raw) per record of a JSON array (or {"contacts": [...]}, or one object), with the line
    each record starts on."""
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    if isinstance(doc, dict) and "contacts" not in doc:
        return [({"record": 1, "line": 1 + text[: len(text) - len(text.lstrip())].count("\n")}, doc)]
    if isinstance(doc, dict):
        doc = doc["contacts"]
        start = text.index("[", text.index('"contacts"'))
    else:
        start = text.index("[")
    if not isinstance(doc, list):
        raise InvalidInput('a JSON contact file is an array of records, or {"contacts": [...]}')
    out: list[tuple[dict[str, Any], Any]] = []
    pos = start + 1
    for i in range(len(doc)):
        while text[pos] in " \t\r\n,":
            pos += 1
        item, end = decoder.raw_decode(text, pos)
        out.append(({"record": i + 1, "line": text.count("\n", 0, pos) + 1}, item))
        pos = end
    return out


def _csv_records(text: str) -> list[tuple[dict[str, Any], Any]]:
    """(where, raw) per CSV row under a header naming the fields; a quoted field may span lines
    (an armoured PGP key), so each record is named by the line it starts on."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InvalidInput("the CSV file is empty; it needs a header line naming the fields") from None
    for h in header:
        if h not in FIELDS and h not in ("country", "asn", "cidr", "domain"):
            raise InvalidInput(f"unknown column {h!r} (known: {', '.join(FIELDS)})", line=1, field=h)
    out: list[tuple[dict[str, Any], Any]] = []
    line = reader.line_num + 1
    record = 0
    for row in reader:
        if any(cell.strip() for cell in row):
            record += 1
            where = {"record": record, "line": line}
            if len(row) > len(header):
                out.append((where, {"__error__": f"{len(row)} fields, the header names {len(header)}"}))
            else:
                out.append((where, {h: v for h, v in zip(header, row, strict=False) if v.strip()}))
        line = reader.line_num + 1
    return out


def parse_contacts(data: bytes | str, fmt: str) -> list[tuple[dict[str, Any], ContactRecord]]:
    """Every record of a CSV or JSON file, checked; BatchRefused naming each problem (record, line,
    field) if any record is bad, so nothing of a bad file is stored."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 (byte {exc.start})") from None
    if fmt == "json":
        rows = _json_records(text)
    elif fmt == "csv":
        rows = _csv_records(text)
    else:
        raise InvalidInput(f"unknown contact file format {fmt!r} (csv or json)", field="format")
    problems: list[Problem] = []
    records: list[tuple[dict[str, Any], ContactRecord]] = []
    names: dict[str, int] = {}
    for where, raw in rows:
        if not isinstance(raw, dict):
            problems.append(Problem("a contact record is an object of fields", where))
            continue
        if "__error__" in raw:
            problems.append(Problem(raw["__error__"], where))
            continue
        record, found = check_record(raw)
        problems += [Problem(f"{f}: {detail}", {**where, "field": f}) for f, detail in found]
        if record is not None:
            if record.name in names:
                problems.append(
                    Problem(
                        f"the name {record.name!r} is also record {names[record.name]}'s",
                        {**where, "field": "name"},
                    )
                )
            names[record.name] = where["record"]
            records.append((where, record))
    if problems:
        raise BatchRefused(problems)
    if not records:
        raise InvalidInput("the file holds no contact records")
    return records


# --- the stored directory ---------------------------------------------------------------------------


def may_manage(viewer: Viewer, org_id: int | None) -> bool:
    """The operator and platform administrators manage every entry; an org-admin their own org's."""
    if viewer.can_administer_platform:
        return True
    return org_id is not None and viewer.org_id == org_id and viewer.can(Permission.MEMBERS_ADMIN)


def _org_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    return {r.name: r.id for r in conn.execute(select(org.c.id, org.c.name).where(org.c.name.in_(wanted)))}


@dataclass
class Saved:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"added": len(self.added), "replaced": len(self.replaced), "names": self.added + self.replaced}


def save(
    conn: Connection,
    viewer: Viewer,
    records: list[tuple[dict[str, Any], ContactRecord]],
    *,
    replace: bool,
    audit_key: bytes,
) -> Saved:
    """Store checked records in the caller's transaction: each one added, or (with `replace`) put in
    place of the entry of the same name. Every authorisation problem is collected first; any
    problem refuses them all."""
    problems: list[Problem] = []
    orgs = _org_ids(conn, [r.org for _w, r in records if r.org])
    existing = {
        row.name: row
        for row in conn.execute(
            select(contact_point.c.id, contact_point.c.name, contact_point.c.org_id).where(
                contact_point.c.name.in_(sorted({r.name for _w, r in records}))
            )
        )
    }
    plan: list[tuple[ContactRecord, int | None, Any]] = []
    for where, record in records:
        if record.org is None:
            org_id = None if viewer.can_administer_platform else viewer.org_id
        elif record.org in orgs:
            org_id = orgs[record.org]
        else:
            problems.append(Problem(f"org: no organisation {record.org!r}", {**where, "field": "org"}))
            continue
        if not may_manage(viewer, org_id):
            problems.append(
                Problem("org: only the operator and the organisation's admins manage its contact points",
                        {**where, "field": "org"})
            )  # fmt: skip
            continue
        old = existing.get(record.name)
        if old is not None and not replace:
            problems.append(
                Problem(
                    f"name: a contact point named {record.name!r} exists already", {**where, "field": "name"}
                )
            )
            continue
        if old is not None and not may_manage(viewer, old.org_id):
            problems.append(
                Problem(
                    f"name: {record.name!r} is another organisation's contact point",
                    {**where, "field": "name"},
                )
            )
            continue
        plan.append((record, org_id, old))
    if problems:
        raise BatchRefused(problems)
    saved = Saved()
    now = now_micros()
    for record, org_id, old in plan:
        values = {
            "name": record.name, "kind": record.kind, "org_id": org_id,
            "curated": viewer.can_administer_platform,
            "channel": record.channel, "format": record.format, "email": record.email, "url": record.url,
            "languages": ",".join(record.languages), "hours": record.hours, "timezone": record.timezone,
            "phone": record.phone, "pgp_key": record.pgp_key, "pgp_fingerprint": record.pgp_fingerprint,
            "enabled": record.enabled, "updated_us": now,
        }  # fmt: skip
        if old is None:
            contact_id = new_id(conn.execute(insert(contact_point).values(**values, created_us=now)))
            saved.added.append(record.name)
        else:
            contact_id = old.id
            conn.execute(update(contact_point).where(contact_point.c.id == contact_id).values(**values))
            conn.execute(delete(contact_scope).where(contact_scope.c.contact_id == contact_id))
            saved.replaced.append(record.name)
        scope = record.scope_rows()
        if scope:
            conn.execute(
                insert(contact_scope), [{"contact_id": contact_id, "kind": k, "value": v} for k, v in scope]
            )
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source, action="contact.save",
        target="contacts", detail=saved.as_dict(),
    )  # fmt: skip
    return saved


def _describe(row: Any, scopes: list[tuple[str, str]], org_name: str | None) -> dict[str, Any]:
    grouped: dict[str, list[Any]] = {"countries": [], "asns": [], "cidrs": [], "domains": []}
    plural = {"country": "countries", "asn": "asns", "cidr": "cidrs", "domain": "domains"}
    for kind, value in scopes:
        grouped[plural[kind]].append(int(value) if kind == "asn" else value)
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "org": org_name,
        "curated": bool(row.curated),
        "channel": row.channel,
        "format": row.format,
        "email": row.email,
        "url": row.url,
        "languages": row.languages.split(",") if row.languages else [],
        "hours": row.hours,
        "timezone": row.timezone,
        "phone": row.phone,
        "pgp_key": row.pgp_key,
        "pgp_fingerprint": row.pgp_fingerprint,
        "enabled": bool(row.enabled),
        **{k: sorted(v) for k, v in grouped.items()},
        "updated": format_micros(row.updated_us),
    }


def may_read(viewer: Viewer) -> bool:
    """Who may read the directory (and so who was notified): the operator, platform administrators
    and vetted members."""
    return viewer.can_administer_platform or (viewer.org_id is not None and viewer.org_vetted)


_may_read = may_read


def list_contacts(
    conn: Connection, viewer: Viewer, *, country: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """The directory, for the operator and vetted members (an alliance-wide phone book); an
    organisation pending vetting sees its own entries only."""
    query = (
        select(contact_point, org.c.name.label("org_name"))
        .outerjoin(org, org.c.id == contact_point.c.org_id)
        .order_by(contact_point.c.name)
    )
    if not _may_read(viewer):
        query = query.where(contact_point.c.org_id == viewer.org_id)
    if kind is not None:
        query = query.where(contact_point.c.kind == kind)
    if country is not None:
        code = country_code(country)
        if code is None:
            raise InvalidInput(
                f"unknown country {country!r} (want an ISO 3166-1 alpha-2 code)", field="country"
            )
        query = query.where(
            contact_point.c.id.in_(
                select(contact_scope.c.contact_id).where(
                    contact_scope.c.kind == "country", contact_scope.c.value == code
                )
            )
        )
    rows = conn.execute(query).all()
    scopes: dict[int, list[tuple[str, str]]] = {}
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        for s in conn.execute(
            select(contact_scope).where(contact_scope.c.contact_id.in_(ids[start : start + 500]))
        ):
            scopes.setdefault(s.contact_id, []).append((s.kind, s.value))
    return [_describe(r, scopes.get(r.id, []), r.org_name) for r in rows]


def get(conn: Connection, viewer: Viewer, contact_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(contact_point, org.c.name.label("org_name"))
        .outerjoin(org, org.c.id == contact_point.c.org_id)
        .where(contact_point.c.id == contact_id)
    ).first()
    if row is None or not (_may_read(viewer) or (row.org_id is not None and row.org_id == viewer.org_id)):
        raise NotFound(f"no contact point {contact_id}")
    scopes = [
        (s.kind, s.value)
        for s in conn.execute(select(contact_scope).where(contact_scope.c.contact_id == contact_id))
    ]
    return _describe(row, scopes, row.org_name)


def update_one(
    conn: Connection, viewer: Viewer, contact_id: int, changes: Mapping[str, Any], *, audit_key: bytes
) -> dict[str, Any]:
    """Change some fields of an entry the viewer manages (the rest stay as they are)."""
    current = get(conn, viewer, contact_id)
    row = conn.execute(select(contact_point.c.org_id).where(contact_point.c.id == contact_id)).one()
    if not may_manage(viewer, row.org_id):
        raise Forbidden("only the operator and the organisation's admins manage its contact points")
    merged = {k: v for k, v in current.items() if k in FIELDS}
    merged.update(changes)
    if (
        merged.get("name") != current["name"]
        and conn.execute(select(contact_point.c.id).where(contact_point.c.name == merged.get("name"))).first()
    ):
        raise Conflict(f"a contact point named {merged.get('name')!r} exists already", field="name")
    record, problems = check_record(merged)
    if record is None:
        f, detail = problems[0]
        raise InvalidInput(f"{f}: {detail}", field=f, contact=current["name"])
    conn.execute(update(contact_point).where(contact_point.c.id == contact_id).values(name=record.name))
    save(conn, viewer, [({"contact": current["name"]}, record)], replace=True, audit_key=audit_key)
    return get(conn, viewer, contact_id)


def remove(conn: Connection, viewer: Viewer, contact_id: int, *, audit_key: bytes) -> None:
    row = conn.execute(
        select(contact_point.c.name, contact_point.c.org_id).where(contact_point.c.id == contact_id)
    ).first()
    if row is None or not (_may_read(viewer) or row.org_id == viewer.org_id):
        raise NotFound(f"no contact point {contact_id}")
    if not may_manage(viewer, row.org_id):
        raise Forbidden("only the operator and the organisation's admins manage its contact points")
    conn.execute(delete(contact_scope).where(contact_scope.c.contact_id == contact_id))
    conn.execute(delete(contact_point).where(contact_point.c.id == contact_id))
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source, action="contact.remove", target=row.name
    )


def contact_id(conn: Connection, name_or_id: str | int) -> int:
    query = select(contact_point.c.id)
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        query = query.where(contact_point.c.id == int(name_or_id))
    else:
        query = query.where(contact_point.c.name == name_or_id)
    found = conn.execute(query).scalar()
    if found is None:
        raise NotFound(f"no contact point {name_or_id!r}")
    return int(found)
