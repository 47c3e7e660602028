"""`x_accord_provenance`: who produced each object and which of the peer's organisations it is for,
named the way their own nodes know them, so the receiving node can give it the same producer and
audience (`accord.federation.receive`).

A remote organisation's row here is named "<node>/<name>"; its own node calls it "<name>".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, union

from accord.db.schema import audience_group, audience_org, group_member, org
from accord.members.model import Viewer


def own_name(name: str, node: str | None) -> str:
    """An organisation's name as its own node knows it ("<node>/" dropped from remote rows)."""
    if node and name.startswith(node + "/"):
        return name[len(node) + 1 :]
    return name


class Namer:
    """Organisation names and audiences, read once per call and remembered."""

    def __init__(self, conn: Connection, node_name: str) -> None:
        self.conn, self.node_name = conn, node_name
        self._orgs: dict[int, tuple[str, str, str]] = {}  # id -> (own name, node, country)
        self._audiences: dict[int, frozenset[int]] = {}

    def load_orgs(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids) - set(self._orgs))
        for start in range(0, len(wanted), 500):
            rows = self.conn.execute(
                select(org.c.id, org.c.name, org.c.node, org.c.country).where(
                    org.c.id.in_(wanted[start : start + 500])
                )
            )
            for r in rows:
                node = r.node or self.node_name
                self._orgs[r.id] = (own_name(r.name, r.node), node, r.country or "")

    def org(self, org_id: int) -> tuple[str, str, str]:
        if org_id not in self._orgs:
            self.load_orgs([org_id])
        return self._orgs[org_id]

    def audience_orgs(self, audience_ids: Iterable[int]) -> None:
        """The organisations each audience names, directly or through a sharing group."""
        wanted = sorted(set(audience_ids) - set(self._audiences))
        found: dict[int, set[int]] = {a: set() for a in wanted}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            direct = select(audience_org.c.audience_id, audience_org.c.org_id).where(
                audience_org.c.audience_id.in_(chunk)
            )
            grouped = (
                select(audience_group.c.audience_id, group_member.c.org_id)
                .join(group_member, group_member.c.group_id == audience_group.c.group_id)
                .where(audience_group.c.audience_id.in_(chunk))
            )
            for audience_id, org_id in self.conn.execute(union(direct, grouped)):
                found[audience_id].add(org_id)
        for audience_id, orgs in found.items():
            self._audiences[audience_id] = frozenset(orgs)

    def recipients(self, audience_id: int, represents: frozenset[int]) -> list[str]:
        if audience_id not in self._audiences:
            self.audience_orgs([audience_id])
        named = self._audiences[audience_id] & represents
        self.load_orgs(named)
        return sorted(self._orgs[o][0] for o in named)


def provenance(conn: Connection, node_name: str, viewer: Viewer, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """One entry per stored row (with `producer_org_id` and `audience_id`), for the peer `viewer`:
    the producer, its node and country, and the organisations the peer hosts that the row's
    audience names (what the receiving node addresses its copy to)."""
    namer = Namer(conn, node_name)
    namer.load_orgs(r.producer_org_id for r in rows)
    namer.audience_orgs(r.audience_id for r in rows)
    out = []
    for r in rows:
        name, node, country = namer.org(r.producer_org_id)
        out.append(
            {
                "producer": name,
                "producer_node": node,
                "producer_country": country,
                "recipients": namer.recipients(r.audience_id, viewer.represents),
            }
        )
    return out
