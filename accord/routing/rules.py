"""Routing rules: who receives what.

A rule has two halves. `match` narrows the values it applies to: the infrastructure's country and AS
number, the object's STIX type, the value's kind (ipv4, ipv6, domain, url), TLP level, severity and
confidence (each optional; lists mean "any of"). `send_to` names recipients: contact kinds (`csirt`:
the national CERT covering the infrastructure, `law-enforcement`, `abuse`: the network's abuse desk),
contact points by name, and optionally `sectors` that the recipient's organisation must be in.

The operator's rules (no owning organisation) reach any contact point; an organisation's rules reach
only its own contact points (a CERT subscribing to more than the default sends it). The `default`
rule, seeded by migration 0004, sends each country's infrastructure to its national CERT and the
network's abuse desk. Rules never widen what anyone may see: the policy gates every recipient
(`engine`), TLP:RED and warninglisted values are never routed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, or_, select, update

from accord import audit
from accord.db import new_id
from accord.db.schema import contact_point, org, routing_rule
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.intel.severity import SEVERITIES
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.members.model import Permission, Sector, Viewer
from accord.routing.contacts import KINDS, MAX_ASN, _items
from accord.routing.countries import country_code

__all__ = ["KIND_VALUES", "Rule", "check_rule"]

KIND_VALUES = ("ipv4", "ipv6", "domain", "url")  # what routing enriches
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "none")  # never red: RED is never routed
MATCH_KEYS = ("countries", "asns", "types", "kinds", "tlp", "min_severity", "min_confidence")
SEND_KEYS = ("kinds", "contacts", "sectors")


@dataclass(frozen=True)
class Rule:
    """A rule checked and ready to apply (sets of normalised keys)."""

    name: str
    org_id: int | None
    enabled: bool
    countries: frozenset[str] = frozenset()
    asns: frozenset[int] = frozenset()
    types: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    tlp: frozenset[str] = frozenset()
    min_severity: int | None = None
    min_confidence: int | None = None
    send_kinds: frozenset[str] = frozenset()
    send_contacts: tuple[str, ...] = ()
    sectors: frozenset[str] = frozenset()
    id: int | None = None

    @property
    def needs_content(self) -> bool:
        """Whether applying it reads the objects' JSON (severity and confidence live there)."""
        return self.min_severity is not None or self.min_confidence is not None

    def match_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("countries", "asns", "types", "kinds", "tlp"):
            values = getattr(self, key)
            if values:
                out[key] = sorted(values)
        if self.min_severity is not None:
            out["min_severity"] = SEVERITIES[self.min_severity]
        if self.min_confidence is not None:
            out["min_confidence"] = self.min_confidence
        return out

    def send_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.send_kinds:
            out["kinds"] = sorted(self.send_kinds)
        if self.send_contacts:
            out["contacts"] = list(self.send_contacts)
        if self.sectors:
            out["sectors"] = sorted(self.sectors)
        return out


def check_rule(
    name: Any, match: Mapping[str, Any] | None, send_to: Mapping[str, Any] | None, enabled: bool = True
) -> Rule:
    """A rule from its parts; InvalidInput naming the field (`match.countries`, `send_to.kinds`, …)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise InvalidInput("a rule needs a name of 1 to 200 characters", field="name")
    match = dict(match or {})
    send_to = dict(send_to or {})
    for key in match:
        if key not in MATCH_KEYS:
            raise InvalidInput(
                f"unknown match key {key!r} (known: {', '.join(MATCH_KEYS)})", field=f"match.{key}"
            )
    for key in send_to:
        if key not in SEND_KEYS:
            raise InvalidInput(
                f"unknown send_to key {key!r} (known: {', '.join(SEND_KEYS)})", field=f"send_to.{key}"
            )
    countries = set()
    for c in _items(match.get("countries")):
        code = country_code(c)
        if code is None:
            raise InvalidInput(
                f"unknown country {c!r} (want an ISO 3166-1 alpha-2 code)", field="match.countries"
            )
        countries.add(code)
    asns = set()
    for a in _items(match.get("asns")):
        text = str(a).strip().upper().removeprefix("AS")
        if isinstance(a, bool) or not text.isdigit() or not 0 < int(text) <= MAX_ASN:
            raise InvalidInput(f"{a!r} is not an AS number", field="match.asns")
        asns.add(int(text))
    types = {str(t).strip() for t in _items(match.get("types"))}
    for t in types:
        if not (1 <= len(t) <= 250) or not all(ch.isalnum() or ch == "-" for ch in t):
            raise InvalidInput(f"not a STIX type: {t!r}", field="match.types")
    kinds = {str(k).strip().lower() for k in _items(match.get("kinds"))}
    for k in kinds:
        if k not in KIND_VALUES:
            raise InvalidInput(f"{k!r} is not one of {', '.join(KIND_VALUES)}", field="match.kinds")
    tlp = set()
    for level in _items(match.get("tlp")):
        text = str(level).strip().lower()
        if text != "none":
            try:
                text = TLP.parse(text).value
            except ValueError as exc:
                raise InvalidInput(str(exc), field="match.tlp") from None
        if text == "red":
            raise InvalidInput("TLP:RED is never routed", field="match.tlp")
        tlp.add(text)
    min_severity = None
    if match.get("min_severity") not in (None, ""):
        level = str(match["min_severity"]).strip().lower()
        if level not in SEVERITIES:
            raise InvalidInput(f"{level!r} is not one of {', '.join(SEVERITIES)}", field="match.min_severity")
        min_severity = SEVERITIES.index(level)
    min_confidence = None
    if match.get("min_confidence") not in (None, ""):
        raw = match["min_confidence"]
        if isinstance(raw, bool) or not str(raw).strip().isdigit() or not 0 <= int(str(raw).strip()) <= 100:
            raise InvalidInput(f"{raw!r} is not a confidence from 0 to 100", field="match.min_confidence")
        min_confidence = int(str(raw).strip())
    send_kinds = {str(k).strip().lower() for k in _items(send_to.get("kinds"))}
    for k in send_kinds:
        if k not in KINDS:
            raise InvalidInput(f"{k!r} is not one of {', '.join(KINDS)}", field="send_to.kinds")
    contacts = send_to.get("contacts") or []
    if isinstance(contacts, str):
        contacts = [c.strip() for c in contacts.split(",") if c.strip()]
    if not isinstance(contacts, list) or not all(isinstance(c, str) and c.strip() for c in contacts):
        raise InvalidInput("contacts is a list of contact point names", field="send_to.contacts")
    sectors = {str(s).strip().lower() for s in _items(send_to.get("sectors"))}
    for s in sectors:
        if s not in {x.value for x in Sector}:
            raise InvalidInput(
                f"unknown sector {s!r} (one of {', '.join(x.value for x in Sector)})", field="send_to.sectors"
            )
    if not send_kinds and not contacts:
        raise InvalidInput("a rule sends to contact kinds or named contact points (or both)", field="send_to")
    return Rule(
        name=name.strip(), org_id=None, enabled=bool(enabled), countries=frozenset(countries),
        asns=frozenset(asns), types=frozenset(types), kinds=frozenset(kinds), tlp=frozenset(tlp),
        min_severity=min_severity, min_confidence=min_confidence, send_kinds=frozenset(send_kinds),
        send_contacts=tuple(dict.fromkeys(c.strip() for c in contacts)), sectors=frozenset(sectors),
    )  # fmt: skip


def _from_row(row: Any) -> Rule:
    rule = check_rule(row.name, orjson.loads(row.match), orjson.loads(row.send_to), row.enabled)
    return Rule(**{**rule.__dict__, "org_id": row.org_id, "id": row.id})


def load(conn: Connection, *, enabled_only: bool = True) -> list[Rule]:
    query = select(routing_rule).order_by(routing_rule.c.id)
    if enabled_only:
        query = query.where(routing_rule.c.enabled)
    return [_from_row(r) for r in conn.execute(query)]


def _may_manage(viewer: Viewer, org_id: int | None) -> bool:
    if viewer.can_administer_platform:
        return True
    return org_id is not None and viewer.org_id == org_id and viewer.can(Permission.MEMBERS_ADMIN)


def _check_targets(conn: Connection, rule: Rule, org_id: int | None) -> None:
    """Named contact points must exist; an organisation's rule may name only its own."""
    if not rule.send_contacts:
        return
    rows = {
        r.name: r.org_id
        for r in conn.execute(
            select(contact_point.c.name, contact_point.c.org_id).where(
                contact_point.c.name.in_(rule.send_contacts)
            )
        )
    }
    for name in rule.send_contacts:
        if name not in rows:
            raise InvalidInput(f"no contact point {name!r}", field="send_to.contacts")
        if org_id is not None and rows[name] != org_id:
            raise Forbidden(f"an organisation's rule sends only to its own contact points, not {name!r}")


def save(
    conn: Connection, viewer: Viewer, rule: Rule, *, org_name: str | None, replace: bool, audit_key: bytes
) -> dict[str, Any]:
    """Add a rule (or replace the one of the same name) for `org_name` (None: the operator's, or the
    org-admin's own organisation's)."""
    if org_name is not None:
        found = conn.execute(select(org.c.id).where(org.c.name == org_name)).scalar()
        if found is None:
            raise NotFound(f"no organisation {org_name!r}")
        org_id: int | None = int(found)
    else:
        org_id = None if viewer.can_administer_platform else viewer.org_id
    if not _may_manage(viewer, org_id):
        raise Forbidden("only the operator and an organisation's admins manage routing rules")
    _check_targets(conn, rule, org_id)
    old = conn.execute(
        select(routing_rule.c.id, routing_rule.c.org_id).where(routing_rule.c.name == rule.name)
    ).first()
    now = now_micros()
    values = {
        "org_id": org_id, "enabled": rule.enabled, "match": orjson.dumps(rule.match_json()).decode(),
        "send_to": orjson.dumps(rule.send_json()).decode(), "updated_us": now,
    }  # fmt: skip
    if old is None:
        rule_id = new_id(conn.execute(insert(routing_rule).values(name=rule.name, created_us=now, **values)))
    elif not replace:
        raise Conflict(f"a rule named {rule.name!r} exists already", field="name")
    elif not _may_manage(viewer, old.org_id):
        raise Forbidden(f"the rule {rule.name!r} is another organisation's")
    else:
        rule_id = old.id
        conn.execute(update(routing_rule).where(routing_rule.c.id == rule_id).values(**values))
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source, action="rule.save", target=rule.name,
        detail={"org_id": org_id, "match": rule.match_json(), "send_to": rule.send_json(),
                "enabled": rule.enabled},
    )  # fmt: skip
    return get(conn, viewer, rule_id)


def _describe(row: Any, org_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "org": org_name,
        "enabled": bool(row.enabled),
        "match": orjson.loads(row.match),
        "send_to": orjson.loads(row.send_to),
        "updated": format_micros(row.updated_us) if row.updated_us else None,
    }


def _listed(viewer: Viewer) -> Any:
    query = select(routing_rule, org.c.name.label("org_name")).outerjoin(
        org, org.c.id == routing_rule.c.org_id
    )
    if not viewer.can_administer_platform:
        # Members see the operator's rules (what reaches them) and their own organisation's.
        query = query.where(or_(routing_rule.c.org_id.is_(None), routing_rule.c.org_id == viewer.org_id))
    return query


def list_rules(conn: Connection, viewer: Viewer) -> list[dict[str, Any]]:
    return [_describe(r, r.org_name) for r in conn.execute(_listed(viewer).order_by(routing_rule.c.name))]


def get(conn: Connection, viewer: Viewer, rule_id: int) -> dict[str, Any]:
    row = conn.execute(_listed(viewer).where(routing_rule.c.id == rule_id)).first()
    if row is None:
        raise NotFound(f"no rule {rule_id}")
    return _describe(row, row.org_name)


def rule_id(conn: Connection, name_or_id: str | int) -> int:
    query = select(routing_rule.c.id)
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        query = query.where(routing_rule.c.id == int(name_or_id))
    else:
        query = query.where(routing_rule.c.name == name_or_id)
    found = conn.execute(query).scalar()
    if found is None:
        raise NotFound(f"no rule {name_or_id!r}")
    return int(found)


def set_enabled(
    conn: Connection, viewer: Viewer, rule_id: int, enabled: bool, *, audit_key: bytes
) -> dict[str, Any]:
    current = get(conn, viewer, rule_id)
    row = conn.execute(select(routing_rule.c.org_id).where(routing_rule.c.id == rule_id)).one()
    if not _may_manage(viewer, row.org_id):
        raise Forbidden(f"the rule {current['name']!r} is not yours to change")
    conn.execute(
        update(routing_rule)
        .where(routing_rule.c.id == rule_id)
        .values(enabled=enabled, updated_us=now_micros())
    )
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source,
        action="rule.enable" if enabled else "rule.disable", target=current["name"],
    )  # fmt: skip
    return get(conn, viewer, rule_id)


def remove(conn: Connection, viewer: Viewer, rule_id: int, *, audit_key: bytes) -> None:
    current = get(conn, viewer, rule_id)
    row = conn.execute(select(routing_rule.c.org_id).where(routing_rule.c.id == rule_id)).one()
    if not _may_manage(viewer, row.org_id):
        raise Forbidden(f"the rule {current['name']!r} is not yours to remove")
    conn.execute(delete(routing_rule).where(routing_rule.c.id == rule_id))
    audit.record(
        conn,
        audit_key,
        actor=viewer.actor(),
        source=viewer.source,
        action="rule.remove",
        target=current["name"],
    )
