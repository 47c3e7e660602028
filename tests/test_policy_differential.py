"""The access policy against a plain oracle written straight from the rules (DOMAIN.md §1, §4).

The oracle below knows nothing of the implementation: no SQL, no audience rows, nothing imported
from `accord.policy` except `Share` (to call the system under test). It models the alliance as plain
Python data (organisations and whether they are vetted now, users and their organisations, sharing
groups as they are now, and every stored version with its TLP, producer, submitter and share) and
decides from the rules alone:

- CLEAR: every authenticated viewer (pending organisations included); anonymous readers only when
  the operator enables the public feed; the operator reads nothing;
- GREEN: every viewer acting for a vetted organisation;
- AMBER, AMBER+STRICT: the producer organisation, organisations named in the share, and members of
  the named sharing groups as the groups are at read time;
- RED: the submitting user and the named users, while acting for a vetted organisation;
- no TLP and no default: AMBER+STRICT for the producer organisation alone (the share is ignored);
- a viewer acting for a pending organisation reads only CLEAR; platform admins read nothing extra;
- an object is visible through its newest visible version; a relationship whose two ends are both
  hidden (stored, no version visible) is hidden; references to hidden objects are removed from what
  is returned, references to ids not stored are kept;
- lookups match only the newest visible, unrevoked version of objects the viewer may see;
- what a viewer may not see does not exist for them: NotFound, and its id appears nowhere.

Seeded random alliances are built through the application (`Accord.submit`, the members service) and
then every read path is compared with the oracle for every viewer: each user acting for each of
their organisations, anonymous readers with and without the public feed, and the operator.
`ACCORD_SLOW=1` runs many more seeds (test marked `slow`).
"""

from __future__ import annotations

import copy
import ipaddress
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from accord.app import Accord
from accord.errors import NotFound
from accord.intel.query import ListFilter
from accord.intel.tlp import TLP
from accord.members.model import ANONYMOUS, OPERATOR, Viewer
from accord.policy import Share
from accord.settings import Settings
from stix_factory import indicator, ip_indicator, malware, parsed, relationship, report

pytestmark = pytest.mark.store

PG_URL = os.environ.get("ACCORD_TEST_DATABASE_URL", "")
SLOW = os.environ.get("ACCORD_SLOW", "") not in ("", "0")

# --- TLP 2.0 as DOMAIN.md §1 tabulates it (written out here, not taken from accord.intel.tlp) ------

LEVELS = ("clear", "green", "amber", "amber+strict", "red")
RANK = {level: i for i, level in enumerate(LEVELS)}
EMIT = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
LEGACY = {
    "clear": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "amber+strict": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
LEVEL_OF = {**{v: k for k, v in EMIT.items()}, **{v: k for k, v in LEGACY.items()}}

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def stix_ts(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def full_ts(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(minute: int) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp()) * 1_000_000


# --- the world the oracle reasons about -------------------------------------------------------------


@dataclass
class Org:
    id: int
    name: str
    vetted: bool


@dataclass
class User:
    id: int
    email: str
    orgs: list[int]
    writes: set[int]  # organisations in which the user may submit
    platform_admin: bool


@dataclass
class Version:
    id: str
    type: str
    minute: int | None  # modified, in minutes after T0; None for (unversioned) SCOs
    content: dict[str, Any]
    producer: int
    revoked: bool
    observables: list[tuple[str, str]]  # (kind, normalised value) the version names
    tlp: str | None = None  # effective: strictest marking, else the submission's default
    submitter: int = 0
    share_orgs: frozenset[int] = frozenset()
    share_groups: frozenset[int] = frozenset()
    share_users: frozenset[int] = frozenset()
    seq: int = 0  # global insertion order (date_added, pk)

    @property
    def order(self) -> int:
        return -1 if self.minute is None else self.minute


@dataclass
class World:
    seed: int
    orgs: dict[int, Org] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    groups: dict[int, set[int]] = field(default_factory=dict)  # members now
    versions: list[Version] = field(default_factory=list)
    by_id: dict[str, list[Version]] = field(default_factory=dict)
    never_stored: list[str] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)  # (kind, value) to look up


@dataclass(frozen=True)
class Who:
    """A reader as the rules see it."""

    kind: str  # "user", "anonymous", "operator"
    user: int | None = None
    org: int | None = None
    public_feed: bool = False


class Oracle:
    """The rules, read literally, over the World; memoised per viewer."""

    def __init__(self, world: World, who: Who) -> None:
        self.world, self.who = world, who
        self._hidden: dict[str, bool] = {}

    def in_audience(self, v: Version) -> bool:
        who = self.who
        if who.kind == "operator":
            return False
        if who.kind == "anonymous":
            return who.public_feed and v.tlp == "clear"
        if v.tlp == "clear":
            return True
        assert who.org is not None
        if not self.world.orgs[who.org].vetted:
            return False
        if v.tlp == "green":
            return True
        if v.tlp == "red":
            return who.user == v.submitter or who.user in v.share_users
        if v.tlp is None:
            return who.org == v.producer
        return (
            who.org == v.producer
            or who.org in v.share_orgs
            or any(who.org in self.world.groups[g] for g in v.share_groups)
        )

    def version_visible(self, v: Version) -> bool:
        if not self.in_audience(v):
            return False
        if v.type == "relationship":
            return not (self.hidden(v.content["source_ref"]) and self.hidden(v.content["target_ref"]))
        return True

    def hidden(self, stix_id: str) -> bool:
        """Stored here, and no version of it visible to the viewer."""
        if stix_id not in self._hidden:
            self._hidden[stix_id] = False  # (a relationship only points at earlier ones: no cycles)
            versions = self.world.by_id.get(stix_id)
            self._hidden[stix_id] = bool(versions) and not any(self.version_visible(v) for v in versions or [])
        return self._hidden[stix_id]

    def visible_versions(self, stix_id: str) -> list[Version]:
        return sorted(
            (v for v in self.world.by_id.get(stix_id, []) if self.version_visible(v)),
            key=lambda v: (v.order, v.seq),
        )

    def latest(self, stix_id: str) -> Version | None:
        vs = self.visible_versions(stix_id)
        return max(vs, key=lambda v: (v.order, -v.seq)) if vs else None

    def latest_all(self) -> list[Version]:
        out = [lv for i in self.world.by_id if (lv := self.latest(i)) is not None]
        return sorted(out, key=lambda v: v.seq)

    def hidden_ids(self) -> set[str]:
        return {i for i in self.world.by_id if self.hidden(i)}

    # what the viewer should receive

    def render(self, v: Version) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                for key, item in value.items():
                    if key == "object_marking_refs":
                        continue
                    if key.endswith("_ref") and isinstance(item, str):
                        if not self.hidden(item):
                            out[key] = item
                    elif key.endswith("_refs") and isinstance(item, list):
                        kept = [x for x in item if not (isinstance(x, str) and self.hidden(x))]
                        if kept or not item:
                            out[key] = kept
                    else:
                        out[key] = clean(item)
                return out
            if isinstance(value, list):
                return [clean(x) for x in value]
            return value

        obj: dict[str, Any] = clean(copy.deepcopy(v.content))
        if v.tlp is not None:
            obj["object_marking_refs"] = [EMIT[v.tlp]]
        return obj

    def item(self, v: Version) -> dict[str, Any]:
        return {
            "object": self.render(v),
            "producer": {"id": v.producer, "name": self.world.orgs[v.producer].name},
            "tlp": v.tlp,
            "revoked": v.revoked,
        }

    def lookup(self, kind: str, value: str) -> set[tuple[str, str, str, str | None]]:
        """(id, match, indicator value, tlp) for one looked-up value."""
        found: dict[tuple[str, str], str] = {}
        for v in self.latest_all():
            if v.revoked:
                continue
            for okind, ovalue in v.observables:
                how = None
                if ovalue == value:
                    how = "exact"
                elif kind == "ipv4" and okind == "ipv4" and "/" in ovalue and "/" not in value:
                    if ipaddress.ip_address(value) in ipaddress.ip_network(ovalue):
                        how = "cidr"
                elif kind == "domain" and okind == "domain" and value.endswith("." + ovalue):
                    how = "parent-domain"
                if how is not None:
                    found.setdefault((v.id, ovalue), how)
        return {(i, how, ov, self.latest(i).tlp) for (i, ov), how in found.items()}  # type: ignore[union-attr]

    def count(self, f: ListFilter) -> int:
        n = 0
        for v in self.latest_all():
            if f.types and v.type not in f.types:
                continue
            if f.tlp and (v.tlp or "none") not in f.tlp:
                continue
            if f.producer_org_id is not None and v.producer != f.producer_org_id:
                continue
            if f.value is not None and f.value not in {o for _, o in v.observables}:
                continue
            if not f.include_revoked and v.revoked:
                continue
            n += 1
        return n


# --- building random alliances through the application -------------------------------------------

ROLES = ("analyst", "analyst", "org-admin", "reader")
IP_POOL_A = (0, 1, 2)
DOMAIN_WORDS = ("evil", "bad", "c2", "cdn", "mail")
DOMAIN_ZONES = ("example", "corp.example", "example.org")


def random_ip(rng: random.Random) -> str:
    return f"10.{rng.choice(IP_POOL_A)}.{rng.randint(0, 3)}.{rng.randint(0, 9)}"


def random_cidr(rng: random.Random) -> str:
    prefix = rng.choice((8, 16, 16, 24, 24, 28))
    return str(ipaddress.ip_network(f"{random_ip(rng)}/{prefix}", strict=False))


def random_domain(rng: random.Random) -> str:
    return f"{rng.choice(DOMAIN_WORDS)}.{rng.choice(DOMAIN_ZONES)}"


def random_observable(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.35:
        return "ipv4", random_ip(rng)
    if r < 0.6:
        return "ipv4", random_cidr(rng)
    return "domain", random_domain(rng)


def pattern_of(observables: list[tuple[str, str]]) -> str:
    path = {"ipv4": "ipv4-addr:value", "domain": "domain-name:value"}
    return "[" + " OR ".join(f"{path[k]} = '{v}'" for k, v in observables) + "]"


def markings(rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.3:
        return []
    if r < 0.75:
        return [EMIT[rng.choice(LEVELS)]]
    if r < 0.85:
        return [LEGACY[rng.choice(LEVELS)]]
    return [EMIT[lv] for lv in rng.sample(LEVELS, 2)]


def strictest(refs: list[str]) -> str | None:
    levels = [LEVEL_OF[r] for r in refs if r in LEVEL_OF]
    return max(levels, key=RANK.__getitem__) if levels else None


def build_world(app: Accord, seed: int, n_objects: tuple[int, int]) -> World:
    rng = random.Random(seed)
    w = World(seed)
    tag = f"s{seed}"

    # Organisations (some pending), users (some in two organisations, some platform admins).
    n_orgs = rng.randint(3, 6)
    vetted = [True, True] + [rng.random() < 0.65 for _ in range(n_orgs - 2)]
    rng.shuffle(vetted)
    with app.db.write() as conn:
        for i in range(n_orgs):
            name = f"{tag}-org{i}"
            oid = app.members.add_org(conn, OPERATOR, name, "csirt", "PL", pending=not vetted[i])
            w.orgs[oid] = Org(oid, name, vetted[i])
        org_ids = list(w.orgs)
        n = 0
        for oid in org_ids:
            for k in range(rng.choice((1, 1, 2))):
                role = "analyst" if k == 0 else rng.choice(ROLES)
                email = f"u{n}@{tag}.example"
                admin = rng.random() < 0.15
                uid = app.members.add_user(conn, OPERATOR, email, oid, role, platform_admin=admin)
                w.users[uid] = User(uid, email, [oid], {oid} if role != "reader" else set(), admin)
                n += 1
        for u in list(w.users.values()):
            if rng.random() < 0.3:
                other = rng.choice([o for o in org_ids if o not in u.orgs])
                role = rng.choice(ROLES)
                app.members.add_user(conn, OPERATOR, u.email, other, role)
                u.orgs.append(other)
                if role != "reader":
                    u.writes.add(other)
        for g in range(rng.choice((0, 1, 2, 3))):
            owner = rng.choice([o for o in org_ids if w.orgs[o].vetted])
            members = set(rng.sample(org_ids, rng.randint(1, n_orgs)))
            if rng.random() < 0.5:
                members.add(owner)
            gid = app.members.add_group(conn, OPERATOR, f"{tag}-group{g}", owner, sorted(members))
            w.groups[gid] = members
    writers = {
        o: sorted(u.id for u in w.users.values() if o in u.writes) for o in org_ids if w.orgs[o].vetted
    }
    producers = [o for o, us in writers.items() if us]

    # Logical objects: SDOs and SCOs first, then relationships and reports that point at them
    # (and at ids never stored). Each has one producer and 1-3 versions with their own markings.
    w.never_stored = [f"{t}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
                      for t in ("malware", "indicator", "identity", "report")]
    total = rng.randint(*n_objects)
    n_edges = total * 3 // 10
    base_types = ("indicator",) * 7 + ("malware",) * 2 + ("identity",) * 2 + ("domain-name", "ipv4-addr")
    logical: list[list[Version]] = []
    base_ids: list[str] = []
    identity_ids: list[str] = []
    rel_ids: list[str] = []
    all_ids: list[str] = []

    def new_id(t: str) -> str:
        return f"{t}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def some_ref(pool: list[str]) -> str:
        return rng.choice(w.never_stored) if rng.random() < 0.12 or not pool else rng.choice(pool)

    for i in range(total):
        t = rng.choice(base_types) if i < total - n_edges else rng.choice(("relationship", "relationship", "report"))
        sid = new_id(t)
        producer = rng.choice(producers)
        if t in ("domain-name", "ipv4-addr"):
            value = random_domain(rng) if t == "domain-name" else rng.choice((random_ip, random_cidr))(rng)
            obj = {"type": t, "spec_version": "2.1", "id": sid, "value": value}
            if refs := markings(rng):
                obj["object_marking_refs"] = refs
            kind = "domain" if t == "domain-name" else "ipv4"
            logical.append([Version(sid, t, None, obj, producer, False, [(kind, value)])])
        else:
            minutes = sorted(rng.sample(range(10_000), rng.choice((1, 2, 2, 3))))
            # Relationship ends: SDOs and SCOs, ids never stored, and now and then an earlier
            # relationship (STIX says SDO or SCO, but the store accepts it, so the rule must hold).
            src, tgt = (rng.choice(rel_ids) if rel_ids and rng.random() < 0.15 else some_ref(base_ids)
                        for _ in range(2))
            chain = []
            for j, minute in enumerate(minutes):
                extra: dict[str, Any] = {"id": sid, "created": stix_ts(minutes[0]), "modified": stix_ts(minute)}
                if refs := markings(rng):
                    extra["object_marking_refs"] = refs
                revoked = j == len(minutes) - 1 and rng.random() < 0.12
                if revoked:
                    extra["revoked"] = True
                if rng.random() < 0.25 and t != "identity":
                    extra["created_by_ref"] = some_ref(identity_ids)
                found: list[tuple[str, str]] = []
                if t == "indicator":
                    found = sorted(set(random_observable(rng) for _ in range(rng.choice((1, 1, 2)))))
                    extra["valid_from"] = stix_ts(minutes[0])
                    obj = indicator(pattern_of(found), **extra)
                elif t == "malware":
                    if rng.random() < 0.4:
                        extra["x_links"] = [{"target_ref": some_ref(all_ids)}, {"note": "kept"}]
                    obj = malware(f"family {j}", **extra)
                elif t == "identity":
                    obj = {"type": "identity", "spec_version": "2.1", "name": f"id {j}",
                           "identity_class": "organization", **extra}
                elif t == "relationship":
                    obj = relationship(src, tgt, description=f"v{j}", **extra)
                else:
                    refs_ = list({some_ref(all_ids) for _ in range(rng.randint(1, 5))})
                    obj = report(refs_, **extra)
                chain.append(Version(sid, t, minute, obj, producer, revoked, found))
            logical.append(chain)
        all_ids.append(sid)
        if t not in ("relationship", "report"):
            base_ids.append(sid)
        if t == "relationship":
            rel_ids.append(sid)
        if t == "identity":
            identity_ids.append(sid)

    # Submissions: versions in random order (so an older version may arrive after a newer one),
    # a few objects of one producer per submission, each with its own default TLP and share.
    queue = [v for chain in logical for v in chain]
    rng.shuffle(queue)
    user_ids, group_ids = list(w.users), list(w.groups)
    seq = 0
    while queue:
        first = queue.pop(0)
        batch, ids = [first], {first.id}
        size = rng.randint(1, 5)
        for other in list(queue):
            if len(batch) >= size:
                break
            if other.producer == first.producer and other.id not in ids:
                batch.append(other)
                ids.add(other.id)
                queue.remove(other)
        submitter = w.users[rng.choice(writers[first.producer])]
        default = rng.choice((None, None, *LEVELS))
        share = Share(
            frozenset(rng.sample(org_ids, rng.choice((0, 0, 1, 2)))),
            frozenset(rng.sample(group_ids, min(len(group_ids), rng.choice((0, 1, 1, 2))))),
            frozenset(rng.sample(user_ids, min(len(user_ids), rng.choice((0, 1, 2))))),
        )
        viewer = app.viewer(submitter.email, w.orgs[first.producer].name)
        result = app.submit(viewer, parsed(v.content for v in batch),
                            default_tlp=TLP(default) if default else None, share=share)
        assert result.stored == len(batch), (seed, result)
        for v in batch:
            v.tlp = strictest(v.content.get("object_marking_refs", [])) or default
            v.submitter = submitter.id
            v.share_orgs, v.share_groups, v.share_users = share.org_ids, share.group_ids, share.user_ids
            v.seq = seq
            seq += 1
            w.versions.append(v)
            w.by_id.setdefault(v.id, []).append(v)

    # Read time differs from submit time: groups change, organisations get (un)vetted.
    with app.db.write() as conn:
        for gid in group_ids:
            if rng.random() < 0.5:
                members = set(rng.sample(org_ids, rng.randint(0, n_orgs)))
                app.members.set_group_members(conn, OPERATOR, gid, sorted(members))
                w.groups[gid] = members
        if rng.random() < 0.35:
            oid = rng.choice(org_ids)
            w.orgs[oid].vetted = not w.orgs[oid].vetted
            app.members.set_vetted(conn, OPERATOR, oid, w.orgs[oid].vetted)

    # Values to look up: every value any version names, addresses inside stored networks,
    # sub-domains of stored domains, and unrelated ones.
    wanted: set[tuple[str, str]] = set()
    for v in w.versions:
        for kind, value in v.observables:
            wanted.add((kind, value))
            if "/" in value:
                net = ipaddress.ip_network(value)
                wanted.add(("ipv4", str(net[rng.randrange(net.num_addresses)])))
            if kind == "domain":
                wanted.add(("domain", f"www.{value}"))
    for _ in range(5):
        wanted.add(("ipv4", random_ip(rng)))
        wanted.add(("domain", f"x.{random_domain(rng)}"))
    wanted.add(("junk", "not an observable value"))
    w.lookups = sorted(wanted)
    return w


# --- comparing every read path with the oracle ----------------------------------------------------


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


@dataclass
class Tally:
    """Counts (viewer, object or value, read path) cases, and side checks apart; keeps failures."""

    cases: Counter[str] = field(default_factory=Counter)
    side_checks: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def check(self, path: str, ok: bool, where: str, detail: Any = "", case: bool = True) -> None:
        (self.cases if case else self.side_checks)[path] += 1
        if not ok:
            self.failures.append(f"[{path}] {where}: {detail}")


def strip_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("object", "producer", "tlp", "revoked")}


def check_viewer(app: Accord, world: World, who: Who, viewer: Viewer, label: str, tally: Tally,
                 rng: random.Random) -> None:
    oracle = Oracle(world, who)
    hidden = oracle.hidden_ids()
    where = f"seed {world.seed}, {label}"

    def no_leak(path: str, output: Any, sid: str = "") -> None:
        leaked = sorted(set(strings(output)) & hidden)
        tally.check(path + ":no-hidden-id", not leaked, f"{where}{' ' + sid if sid else ''}",
                    f"hidden ids appear in the output: {leaked}", case=False)

    # get_object: the newest visible version, redacted; hidden or never stored: NotFound.
    for sid in [*world.by_id, *world.never_stored]:
        want = oracle.latest(sid)
        try:
            got: dict[str, Any] | None = app.get_object(viewer, sid)
        except NotFound:
            got = None
        if want is None:
            tally.check("get_object", got is None, f"{where} {sid}", "visible, the oracle says it must not exist")
        else:
            tally.check("get_object", got is not None and strip_item(got) == oracle.item(want), f"{where} {sid}",
                        f"expected {oracle.item(want)}, got {got}")
        no_leak("get_object", got, sid)

    # versions: exactly the visible versions, oldest first; none visible: NotFound.
    for sid in world.by_id:
        wanted = oracle.visible_versions(sid)
        try:
            got_versions: list[dict[str, Any]] | None = app.versions(viewer, sid)
        except NotFound:
            got_versions = None
        if not wanted:
            tally.check("versions", got_versions is None, f"{where} {sid}",
                        f"versions of a hidden object returned: {got_versions}")
        else:
            tally.check("versions",
                        got_versions is not None and [strip_item(g) for g in got_versions]
                        == [oracle.item(v) for v in wanted],
                        f"{where} {sid}",
                        f"expected {[v.minute for v in wanted]} ({[v.tlp for v in wanted]}), got {got_versions}")
        no_leak("versions", got_versions, sid)

    # get_object at one version (a few per viewer): visible versions only.
    versioned = [v for v in world.versions if v.minute is not None]
    for v in rng.sample(versioned, min(6, len(versioned))):
        try:
            got = app.get_object(viewer, v.id, micros(v.order))
        except NotFound:
            got = None
        if oracle.version_visible(v):
            tally.check("get_object@version", got is not None and strip_item(got) == oracle.item(v),
                        f"{where} {v.id}@{v.minute}", f"expected {oracle.item(v)}, got {got}")
        else:
            tally.check("get_object@version", got is None, f"{where} {v.id}@{v.minute}",
                        f"a version the viewer may not read was returned: {got}")
        no_leak("get_object@version", got, v.id)

    latest = oracle.latest_all()
    expected_items = [(v.id, oracle.item(v)) for v in latest]

    # list_objects, paged with small pages and cursors: each visible id once, newest visible version.
    def page_all(f: ListFilter) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        limit = rng.randint(3, 12)
        for _ in range(1000):
            items, cursor = app.list_objects(viewer, f, limit=limit, cursor=cursor)
            out += items
            if cursor is None:
                break
        return out

    listed = page_all(ListFilter())
    got_ids = [i["object"]["id"] for i in listed]
    got_by_id = {i["object"]["id"]: strip_item(i) for i in listed}
    tally.check("list_objects:order", got_ids == [i for i, _ in expected_items], where,
                f"ids (in date_added order) differ: extra {sorted(set(got_ids) - {i for i, _ in expected_items})}, "
                f"missing {sorted({i for i, _ in expected_items} - set(got_ids))}, duplicates "
                f"{[i for i, n in Counter(got_ids).items() if n > 1]}", case=False)
    want_by_id = dict(expected_items)
    for sid in world.by_id:
        tally.check("list_objects", got_by_id.get(sid) == want_by_id.get(sid), f"{where} {sid}",
                    f"expected {want_by_id.get(sid)}, got {got_by_id.get(sid)}")
    no_leak("list_objects", listed)

    # list_objects with a filter on type or TLP (the filter applies to the newest visible version).
    present_types = sorted({v.type for v in world.versions})
    filt = rng.choice([ListFilter(types=[rng.choice(present_types)]),
                       ListFilter(tlp=[rng.choice((*LEVELS, "none"))]),
                       ListFilter(include_revoked=False)])
    filtered = {i["object"]["id"]: strip_item(i) for i in page_all(filt)}
    for sid in world.by_id:
        want_v = oracle.latest(sid)
        want = oracle.item(want_v) if want_v is not None and _passes(want_v, filt) else None
        tally.check("list_objects:filtered", filtered.get(sid) == want, f"{where} {sid} filter {filt}",
                    f"expected {want}, got {filtered.get(sid)}")

    # export: the same objects (rendered), then the TLP marking definitions they use.
    exported = list(app.export(viewer))
    objs = [o for o in exported if o.get("type") != "marking-definition"]
    defs = {o["id"] for o in exported if o.get("type") == "marking-definition"}
    got_export = {o["id"]: o for o in objs}
    tally.check("export:once", len(objs) == len(got_export), where, "an id was exported twice", case=False)
    for sid in world.by_id:
        want_v = oracle.latest(sid)
        tally.check("export", got_export.get(sid) == (oracle.render(want_v) if want_v else None),
                    f"{where} {sid}", f"expected {want_v and oracle.render(want_v)}, got {got_export.get(sid)}")
    tally.check("export:markings", defs == {EMIT[v.tlp] for v in latest if v.tlp}, where,
                f"marking definitions {sorted(defs)}", case=False)
    no_leak("export", exported)

    # count and stats: the oracle's numbers.
    filters = [ListFilter(), ListFilter(include_revoked=False),
               ListFilter(producer_org_id=rng.choice(list(world.orgs))),
               ListFilter(types=[rng.choice(present_types)], tlp=[rng.choice((*LEVELS, "none"))])]
    filters += [ListFilter(value=value) for kind, value in rng.sample(world.lookups, 3) if kind != "junk"]
    for f in filters:
        got_n, want_n = app.count(viewer, f), oracle.count(f)
        tally.check("count", got_n == want_n, f"{where} {f}", f"expected {want_n}, got {got_n}")
    stats = app.stats(viewer)
    by_tlp = {(None if k in ("None", "none") else k): n for k, n in stats["by_tlp"].items()}
    tally.check("stats:by_type", stats["by_type"] == dict(Counter(v.type for v in latest)), where,
                f"expected {dict(Counter(v.type for v in latest))}, got {stats['by_type']}")
    tally.check("stats:by_tlp", by_tlp == dict(Counter(v.tlp for v in latest)), where,
                f"expected {dict(Counter(v.tlp for v in latest))}, got {stats['by_tlp']}")

    # lookup: matches only from the newest visible, unrevoked versions.
    results = app.lookup(viewer, [value for _, value in world.lookups])
    for (kind, value), entry in zip(world.lookups, results, strict=True):
        got_m = {(m["id"], m["match"], m["indicator_value"], m["tlp"]) for m in entry["matches"]}
        want_m = oracle.lookup(kind, value) if kind != "junk" else set()
        tally.check("lookup", got_m == want_m, f"{where} lookup {value!r}",
                    f"expected {sorted(want_m, key=str)}, got {sorted(got_m, key=str)}")
        for m in entry["matches"]:
            v = oracle.latest(m["id"])
            if v is not None and v.minute is not None:
                tally.check("lookup:modified", m["modified"] == full_ts(v.minute), f"{where} lookup {value!r}",
                            f"match {m} is not from the newest visible version ({full_ts(v.minute)})",
                            case=False)
    no_leak("lookup", results)


def _passes(v: Version, f: ListFilter) -> bool:
    if f.types and v.type not in f.types:
        return False
    if f.tlp and (v.tlp or "none") not in f.tlp:
        return False
    return f.include_revoked or not v.revoked


def viewers_of(app: Accord, public: Accord, world: World) -> list[tuple[Accord, Who, Viewer, str]]:
    out: list[tuple[Accord, Who, Viewer, str]] = []
    for u in world.users.values():
        for oid in u.orgs:
            org = world.orgs[oid]
            label = (f"{u.email}{' (platform admin)' if u.platform_admin else ''} acting for {org.name} "
                     f"({'vetted' if org.vetted else 'pending'})")
            out.append((app, Who("user", u.id, oid), app.viewer(u.email, org.name), label))
    out.append((app, Who("anonymous"), ANONYMOUS, "anonymous, no public feed"))
    out.append((public, Who("anonymous", public_feed=True), ANONYMOUS, "anonymous, public feed on"))
    out.append((app, Who("operator"), OPERATOR, "the operator"))
    return out


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A new empty database per call (each seed gets its own alliance), on the backend under test."""
    schemas: list[str] = []
    made = 0

    def make() -> str:
        nonlocal made
        made += 1
        if not PG_URL:
            return f"sqlite:///{tmp_path / f'world{made}.sqlite3'}"
        schema = "t_" + uuid.uuid4().hex[:12]
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        schemas.append(schema)
        return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"

    yield make
    if schemas:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_seeds(seeds: range, sizes: tuple[int, int], new_database: Callable[[], str], data_dir: Path) -> Tally:
    tally = Tally()
    for seed in seeds:
        url = new_database()
        app = Accord(Settings(database_url=url, data_dir=str(data_dir)))
        app.init()
        public = Accord(Settings(database_url=url, data_dir=str(data_dir), public_feed=True))
        try:
            world = build_world(app, seed, sizes)
            rng = random.Random(seed * 7919)
            for target, who, viewer, label in viewers_of(app, public, world):
                check_viewer(target, world, who, viewer, label, tally, rng)
        finally:
            public.close()
            app.close()
    return tally


def report_tally(tally: Tally, minimum: int, started: float) -> None:
    total = sum(tally.cases.values())
    summary = (f"{total} cases in {time.monotonic() - started:.1f}s: {dict(sorted(tally.cases.items()))}, "
               f"plus {sum(tally.side_checks.values())} side checks: {dict(sorted(tally.side_checks.items()))}")
    print(summary)
    assert not tally.failures, (
        f"{len(tally.failures)} discrepancies between the policy and the oracle ({summary}); first ones:\n"
        + "\n".join(tally.failures[:40])
    )
    assert total >= minimum, f"only {summary}: the differential test checked too little"


def test_policy_matches_oracle(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    started = time.monotonic()
    tally = run_seeds(range(1, 7), (20, 45), fresh_database, tmp_path / "data")
    report_tally(tally, 10_000, started)


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set ACCORD_SLOW=1 to run many more seeds")
def test_policy_matches_oracle_many_seeds(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    started = time.monotonic()
    tally = run_seeds(range(100, 160), (20, 60), fresh_database, tmp_path / "data")
    report_tally(tally, 100_000, started)
