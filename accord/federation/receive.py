"""Storing what a peer sends, pulled from it or POSTed by it: one path, through the normal store.

Each object keeps its JSON as received (a STIX 2.0 object is upgraded to 2.1 first, as an import
does) and gets a producer and an audience here:
- with `x_accord_provenance` (an Accord peer): the producer is the organisation "<node>/<name>"
  hosted by that node (created, vetted, on first sight); the audience follows the object's TLP
  marking: CLEAR -> public, GREEN -> community, AMBER / AMBER+STRICT -> the producer plus this
  node's own organisations among the entry's `recipients`. An object whose producer is one of
  this node's own organisations is ours already: it is never stored again from a peer (a peer may
  not add to, or rewrite, what this node's organisations said);
- without provenance (medallion or any other TAXII server): the producer is the peer's node
  organisation; objects without a TLP marking are AMBER, addressed to the peer's `--for`
  organisation when it has one (else readable by nobody here but the peer itself).
TLP:RED is refused: it never leaves its node. A peer is believed about the organisations of other
nodes it relays (there are no signatures), never about this node's own. Whatever a received
object's audience is, the one policy decides who reads it and which peers it is pushed to, so it
never travels beyond its TLP.

An object the store refuses (invalid, a version of another producer's object, a version after a
revocation) is reported with its reason and the others are stored: each producer's objects go in
a savepoint that is retried without the refused ones. The caller's transaction holds it all, so a
pull stores a page and advances its cursor together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, insert, select

from accord import audit
from accord.app import Accord
from accord.db import new_id
from accord.db.schema import org, peer
from accord.errors import BatchRefused, Forbidden, InvalidInput, NotFound, Problem
from accord.ingest.stix import is_stix20, stix1_problem, upgrade
from accord.intel.observables import Observable
from accord.intel.prepare import Prepared, gc_paused, prepare
from accord.intel.timestamps import now_micros
from accord.intel.tlp import TLP
from accord.members.model import Permission, Role, Sector, Viewer
from accord.members.service import COUNTRIES
from accord.policy import Share

RED_REFUSAL = "TLP:RED never leaves its node"
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_REPORTED = 100  # failures kept in a result (the count is always exact)

Benign = Callable[[Observable], str | None] | None


@dataclass
class ReceiveResult:
    stored: int = 0
    unchanged: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (object id or #index, reason)
    failed: int = 0
    # (id, modified in µs, 0 for SCOs): stored or known. Formatted only by who needs it (a status).
    accepted: list[tuple[str, int]] = field(default_factory=list)
    orgs_created: list[str] = field(default_factory=list)

    def fail(self, label: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_REPORTED:
            self.failures.append((label, reason))

    def add(self, other: ReceiveResult) -> None:
        self.stored += other.stored
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.failures.extend(other.failures[: max(0, MAX_REPORTED - len(self.failures))])
        self.orgs_created.extend(other.orgs_created)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "failures": [{"id": i, "reason": r} for i, r in self.failures[:20]],
            "orgs_created": self.orgs_created,
        }


@dataclass(frozen=True)
class PeerInfo:
    """What receiving needs to know about the sending peer."""

    id: int
    name: str
    org_id: int  # the peer's node organisation
    user_id: int  # the peer's system user: the submitter of everything it sends
    for_org_id: int | None  # objects without provenance are addressed to this home organisation


def load_peer(conn: Connection, peer_id: int) -> PeerInfo:
    row = conn.execute(select(peer).where(peer.c.id == peer_id)).first()
    if row is None:
        raise NotFound(f"no peer {peer_id}")
    state = orjson.loads(row.state) if row.state else {}
    return PeerInfo(row.id, row.name, row.org_id, row.user_id, state.get("for"))


def _dumps(obj: Any) -> str:
    try:
        return orjson.dumps(obj).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates: the stdlib writes them
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def receive(
    app: Accord,
    peer_viewer: Viewer,
    objects: Sequence[Any],
    provenance: Sequence[Any] | None,
    *,
    raw: Sequence[str] | None = None,
) -> ReceiveResult:
    """Store objects a peer POSTed (`provenance` aligned with them, or None), in one transaction.

    `raw`, when the caller kept it, is each object's JSON text as received (stored as it is);
    otherwise the objects are serialised again. Raises Forbidden for a viewer that is not a peer
    and InvalidInput when `provenance` or `raw` does not line up with `objects`.
    """
    if peer_viewer.peer_id is None or not peer_viewer.can(Permission.INTEL_WRITE):
        raise Forbidden("only a peer node may send intelligence with provenance")
    if provenance is not None and len(provenance) != len(objects):
        raise InvalidInput(
            f"x_accord_provenance has {len(provenance)} entries for {len(objects)} objects",
            field="x_accord_provenance",
        )
    if raw is not None and len(raw) != len(objects):
        raise InvalidInput(f"{len(raw)} raw texts for {len(objects)} objects", field="objects")
    items = [(obj, raw[i] if raw is not None else _dumps(obj)) for i, obj in enumerate(objects)]
    benign = app.benign()
    with gc_paused(), app.db.write() as conn:
        info = load_peer(conn, peer_viewer.peer_id)
        result = store_received(app, conn, info, check_received(items), provenance, benign=benign)
        audit.record(
            conn,
            app.audit_key,
            actor=f"peer:{info.name}",
            source=peer_viewer.source or f"peer:{info.name}",
            action="peer.receive",
            target=f"peer:{info.name}",
            detail=result.as_dict(),
        )
    return result


class _Producers:
    """Provenance entries -> (producer org, home recipients, default TLP), remembered per call."""

    def __init__(self, conn: Connection, node_name: str, info: PeerInfo) -> None:
        self.conn, self.node_name, self.info = conn, node_name, info
        self.remote: dict[tuple[str, str], int] = {}
        self.home: dict[str, int | None] = {}
        self.created: list[str] = []
        self.known: dict[Any, tuple[int, frozenset[int], TLP | None] | None] = {}

    def key(self, entry: Any) -> tuple[int, frozenset[int], TLP | None] | None:
        """None: the object is one of this node's own organisations' (never stored from a peer)."""
        if entry is None:
            recipients = frozenset({self.info.for_org_id}) if self.info.for_org_id else frozenset()
            return self.info.org_id, recipients, TLP.AMBER
        if not isinstance(entry, dict):
            raise InvalidInput("its provenance entry is not an object")
        recipients = entry.get("recipients", [])
        # Most objects of a page share a few entries: each distinct one is worked out once.
        signature: Any = (entry.get("producer"), entry.get("producer_node"), entry.get("producer_country"),
                          tuple(recipients) if isinstance(recipients, list) else recipients)  # fmt: skip
        try:
            return self.known[signature]
        except KeyError:
            pass
        except TypeError:  # unhashable parts: not a valid entry anyway (refused below)
            signature = None
        found = self._key(entry, recipients)
        if signature is not None:
            self.known[signature] = found
        return found

    def _key(self, entry: dict[str, Any], recipients: Any) -> tuple[int, frozenset[int], TLP | None] | None:
        producer, node = entry.get("producer"), entry.get("producer_node")
        if not isinstance(node, str) or not NODE_NAME.fullmatch(node):
            raise InvalidInput(f"its provenance names no usable producer_node: {node!r}"[:200])
        if not isinstance(producer, str) or not 0 < len(producer) <= 99 or not producer.isprintable():
            raise InvalidInput(f"its provenance names no usable producer: {producer!r}"[:200])
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            raise InvalidInput("its provenance recipients must be a list of organisation names")
        if node == self.node_name:
            return None
        country = entry.get("producer_country")
        org_id = self._remote(node, producer, country if isinstance(country, str) else "")
        return org_id, self._home(recipients), None

    def _remote(self, node: str, producer: str, country: str) -> int:
        cached = self.remote.get((node, producer))
        if cached is not None:
            return cached
        name = f"{node}/{producer}"
        row = self.conn.execute(select(org.c.id, org.c.node).where(org.c.name == name)).first()
        if row is not None:
            if row.node != node:
                raise InvalidInput(f"an organisation named {name!r} exists here and is not hosted by {node}")
            org_id = int(row.id)
        else:
            cc = country.strip().upper()
            org_id = new_id(
                self.conn.execute(
                    insert(org).values(
                        name=name,
                        sector=Sector.INTERNATIONAL.value,
                        country=cc if cc in COUNTRIES else "",
                        vetted=True,
                        created_us=now_micros(),
                        node=node,
                    )
                )
            )
            self.created.append(name)
        self.remote[(node, producer)] = org_id
        return org_id

    def _home(self, names: list[str]) -> frozenset[int]:
        missing = sorted({n for n in names if n not in self.home})
        if missing:
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                found = dict(
                    self.conn.execute(
                        select(org.c.name, org.c.id).where(org.c.node.is_(None), org.c.name.in_(chunk))
                    ).all()
                )
                for n in chunk:
                    self.home[n] = found.get(n)
        return frozenset(i for n in names if (i := self.home.get(n)) is not None)


def _label(obj: Any, index: int) -> str:
    oid = obj.get("id") if isinstance(obj, dict) else None
    return oid if isinstance(oid, str) and oid else f"#{index}"


def _reason(problem: Problem) -> str:
    where = {k: v for k, v in problem.where.items() if k != "object"}
    return str(Problem(problem.detail, where))


class Refusal(NamedTuple):
    """An object refused before it reached the store: how to name it, and why."""

    label: str
    reason: str


def check_received(items: Sequence[tuple[Any, str]]) -> list[Prepared | Refusal]:
    """The per-object half of receiving, aligned with `items`: validated and prepared, or refused
    (not an object, STIX 1.x, invalid, TLP:RED). CPU only, no database: a sync runs it in its page
    reader process while the main process stores the page before."""
    out: list[Prepared | Refusal] = []
    for index, (obj, text) in enumerate(items):
        label = _label(obj, index)
        if not isinstance(obj, dict):
            out.append(Refusal(label, "not a JSON object"))
            continue
        refused = stix1_problem(obj, index)
        if refused is not None:
            out.append(Refusal(label, refused.detail))
            continue
        if is_stix20(obj):
            obj = upgrade(obj)
            text = _dumps(obj)
        p = prepare(index, obj, text)
        if isinstance(p, Problem):
            out.append(Refusal(label, _reason(p)))
        elif p.tlp == TLP.RED.value:
            out.append(Refusal(p.id, RED_REFUSAL))
        else:
            out.append(p)
    return out


def store_received(
    app: Accord,
    conn: Connection,
    info: PeerInfo,
    checked: Sequence[Prepared | Refusal],
    provenance: Sequence[Any] | None,
    *,
    benign: Benign = None,
) -> ReceiveResult:
    """Store what `check_received` made of a peer's objects inside the caller's write transaction."""
    result = ReceiveResult()
    producers = _Producers(conn, app.settings.node_name, info)
    groups: dict[tuple[int, frozenset[int], TLP | None], list[Prepared]] = {}
    for index, p in enumerate(checked):
        if isinstance(p, Refusal):
            result.fail(p.label, p.reason)
            continue
        try:
            key = producers.key(provenance[index] if provenance is not None else None)
        except InvalidInput as exc:
            result.fail(p.id, exc.detail)
            continue
        if key is None:  # one of our own organisations' objects, coming back
            result.unchanged += 1
            result.accepted.append((p.id, p.modified_us))
            continue
        groups.setdefault(key, []).append(p)
    for (producer_org_id, recipients, default_tlp), prepared in groups.items():
        viewer = Viewer(
            user_id=info.user_id,
            email=f"peer:{info.name}",
            org_id=producer_org_id,
            org_vetted=True,
            role=Role.ANALYST,
            scopes=frozenset({Permission.INTEL_READ, Permission.INTEL_WRITE}),
            source=f"peer:{info.name}",
        )
        _submit(app, conn, viewer, prepared, default_tlp, Share(org_ids=recipients), benign, result)
    result.orgs_created = producers.created
    return result


def _submit(
    app: Accord,
    conn: Connection,
    viewer: Viewer,
    prepared: list[Prepared],
    default_tlp: TLP | None,
    share: Share,
    benign: Benign,
    result: ReceiveResult,
) -> None:
    """One producer's objects in a savepoint; the ones the store refuses are reported, the rest
    stored (retried without them)."""
    pending = prepared
    while pending:
        savepoint = conn.begin_nested()
        try:
            batch: list[Prepared | Problem] = [*pending]
            done = app.store.submit_prepared(
                conn, viewer, [batch], default_tlp=default_tlp, share=share, benign=benign
            )
        except BatchRefused as exc:
            savepoint.rollback()
            reasons: dict[str, str] = {}
            for problem in exc.problems:
                reasons.setdefault(str(problem.where.get("object")), _reason(problem))
            bad = {p.id for p in pending if p.id in reasons}
            if not bad:
                for p in pending:
                    result.fail(p.id, exc.detail)
                return
            for p in pending:
                if p.id in bad:
                    result.fail(p.id, reasons[p.id])
            pending = [p for p in pending if p.id not in bad]
            continue
        except Forbidden as exc:  # e.g. the operator un-vetted this producer
            savepoint.rollback()
            for p in pending:
                result.fail(p.id, exc.detail)
            return
        savepoint.commit()
        result.stored += done.stored
        result.unchanged += done.unchanged
        result.accepted.extend((p.id, p.modified_us) for p in pending)
        return
