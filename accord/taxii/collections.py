"""Which TAXII collections a viewer may read and write, and the SQL that cuts each one out of what
the policy already lets that viewer see.

A collection never widens access: its filter is always ANDed with the policy's clause, so a
collection is only a *view* (whose objects, addressed to whom). Kinds:
- `community`: everything the viewer may see (read only);
- `org`: one hosted, vetted organisation's own intelligence (producer = that organisation); written
  by its own members with intel:write, publishing as that organisation;
- `group`: objects whose audience names a sharing group; read and written by member organisations
  (posting there addresses the group);
- `inbox`: what other organisations addressed to one organisation (its audience names it or one of
  its groups); read only by that organisation (or a peer representing it);
- `notified`: what routing delivered to one of an organisation's contact points whose channel is
  `taxii` (`notification_object`, by STIX id); read only by that organisation. The inbox does not
  cover it: routed objects are mostly community ones (TLP:CLEAR/GREEN), addressed to no one.

Ids are UUIDv5 of (node name, kind, key), so they are the same across restarts and processes and
token collection limits (`api_token.collections`) can name them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, select, union_all

from accord.db.schema import (
    audience_group,
    audience_org,
    contact_point,
    group_member,
    notification_object,
    org,
    sharing_group,
    stix_object,
)
from accord.errors import NotFound
from accord.members.model import Permission, Viewer
from accord.taxii.errors import STIX_MEDIA

NAMESPACE = uuid.UUID("5d1c8f0e-3b7a-5e43-9a0c-6f2e1d4b8a71")  # Accord TAXII collections
COMMUNITY = "community"
ORG = "org"
GROUP = "group"
INBOX = "inbox"
NOTIFIED = "notified"


@lru_cache(maxsize=65536)
def collection_id(node_name: str, kind: str, key: str) -> str:
    """The stable id of a collection on a node."""
    return str(uuid.uuid5(NAMESPACE, f"{node_name}\x1f{kind}\x1f{key}"))


def community_id(node_name: str) -> str:
    return collection_id(node_name, COMMUNITY, COMMUNITY)


@dataclass(frozen=True)
class Collection:
    id: str
    kind: str
    key: int | None  # the organisation, group or contact point it is cut for (None: community)
    title: str
    description: str
    alias: str
    can_read: bool
    can_write: bool

    def resource(self) -> dict[str, Any]:
        """The TAXII 2.1 collection resource."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "alias": self.alias,
            "can_read": self.can_read,
            "can_write": self.can_write,
            "media_types": [STIX_MEDIA],
        }

    def scope(self) -> ColumnElement[bool] | None:
        """What this collection adds to the policy's clause over `stix_object` (None: nothing)."""
        if self.kind == ORG:
            return stix_object.c.producer_org_id == self.key
        if self.kind == GROUP:
            named = select(audience_group.c.audience_id).where(audience_group.c.group_id == self.key)
            return stix_object.c.audience_id.in_(named)
        if self.kind == NOTIFIED:
            notified = select(notification_object.c.stix_id).where(
                notification_object.c.contact_id == self.key
            )
            return stix_object.c.stix_id.in_(notified)
        if self.kind == INBOX:
            addressed = union_all(
                select(audience_org.c.audience_id).where(audience_org.c.org_id == self.key),
                select(audience_group.c.audience_id)
                .join(group_member, group_member.c.group_id == audience_group.c.group_id)
                .where(group_member.c.org_id == self.key),
            )
            return and_(
                stix_object.c.producer_org_id != self.key,
                stix_object.c.audience_id.in_(select(addressed.subquery().c[0])),
            )
        return None


def _community(node_name: str) -> Collection:
    return Collection(
        id=community_id(node_name),
        kind=COMMUNITY,
        key=None,
        title="Community",
        description=f"Everything you may see on the Accord node {node_name}, from every organisation.",
        alias=COMMUNITY,
        can_read=True,
        can_write=False,
    )


def _community_for(node_name: str, viewer: Viewer) -> Collection:
    """The community collection as the viewer may use it (before token limits)."""
    found = _community(node_name)
    if viewer.is_peer and viewer.can(Permission.INTEL_WRITE):
        # A peer node pushes here: what it sends is stored with the producer and audience its
        # provenance gives (accord.federation.receive), never as an organisation of this node.
        found = replace(found, can_write=True)
    return found


def readable(conn: Connection, node_name: str, viewer: Viewer) -> list[Collection]:
    """Every collection the viewer may read, with whether it may write there (token limits applied)."""
    if viewer.operator:
        return []
    found = [_community_for(node_name, viewer)]
    if not viewer.anonymous:
        found += _member_collections(conn, node_name, viewer)
    return _token_limited(viewer, found)


def _token_limited(viewer: Viewer, found: list[Collection]) -> list[Collection]:
    out = []
    for c in found:
        if not viewer.may_use_collection(c.id):
            continue
        if c.can_write and not viewer.may_use_collection(c.id, write=True):
            c = replace(c, can_write=False)
        out.append(c)
    return out


def _member_collections(conn: Connection, node_name: str, viewer: Viewer) -> list[Collection]:
    writer = viewer.org_vetted and viewer.can(Permission.INTEL_WRITE) and not viewer.is_peer
    # The organisations the viewer reads as: its own (vetted), or the ones a peer represents.
    acting = set(viewer.represents)
    if viewer.org_id is not None and viewer.org_vetted:
        acting.add(viewer.org_id)
    hosted = conn.execute(
        select(org.c.id, org.c.name).where(org.c.node.is_(None), org.c.vetted).order_by(org.c.name)
    ).all()
    out = [
        Collection(
            id=collection_id(node_name, ORG, str(o.id)),
            kind=ORG,
            key=o.id,
            title=o.name,
            description=f"Intelligence produced by {o.name}, as far as you may see it.",
            alias=f"org/{o.name}",
            can_read=True,
            can_write=writer and o.id == viewer.org_id,
        )
        for o in hosted
    ]
    if acting:
        groups = conn.execute(
            select(sharing_group.c.id, sharing_group.c.name, group_member.c.org_id)
            .join(group_member, group_member.c.group_id == sharing_group.c.id)
            .where(group_member.c.org_id.in_(sorted(acting)))
            .order_by(sharing_group.c.name)
        ).all()
        mine: dict[int, tuple[str, bool]] = {}
        for g in groups:
            _name, member = mine.get(g.id, (g.name, False))
            mine[g.id] = (g.name, member or g.org_id == viewer.org_id)
        out += [
            Collection(
                id=collection_id(node_name, GROUP, str(gid)),
                kind=GROUP,
                key=gid,
                title=f"Sharing group {name}",
                description=f"Intelligence addressed to the sharing group {name}; posting here "
                "addresses the group (objects without a TLP marking become TLP:AMBER).",
                alias=f"group/{name}",
                can_read=True,
                can_write=writer and member,
            )
            for gid, (name, member) in mine.items()
        ]
        out += [
            Collection(
                id=collection_id(node_name, INBOX, str(o.id)),
                kind=INBOX,
                key=o.id,
                title=f"Inbox of {o.name}",
                description=f"What other organisations addressed to {o.name} or its sharing groups.",
                alias=f"inbox/{o.name}",
                can_read=True,
                can_write=False,
            )
            for o in hosted
            if o.id in acting
        ]
        contacts = conn.execute(
            select(contact_point.c.id, contact_point.c.name)
            .where(contact_point.c.channel == "taxii", contact_point.c.org_id.in_(sorted(acting)))
            .order_by(contact_point.c.name)
        ).all()
        out += [
            Collection(
                id=collection_id(node_name, NOTIFIED, str(c.id)),
                kind=NOTIFIED,
                key=c.id,
                title=f"Notifications for {c.name}",
                description=f"Abused infrastructure routed to the contact point {c.name}, as far as you "
                "may see it.",
                alias=f"notified/{c.name}",
                can_read=True,
                can_write=False,
            )
            for c in contacts
        ]
    return out


def find(conn: Connection, node_name: str, viewer: Viewer, wanted: str) -> Collection:
    """The collection with this id if the viewer may read it; else NotFound (hidden and absent alike)."""
    if wanted == community_id(node_name):  # the common case needs no query
        candidates = [] if viewer.operator else _token_limited(viewer, [_community_for(node_name, viewer)])
    else:
        candidates = readable(conn, node_name, viewer)
    for c in candidates:
        if c.id == wanted:
            return c
    raise NotFound(f"no collection {wanted}", collection=wanted)
