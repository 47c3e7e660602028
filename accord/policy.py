"""THE access policy: the one place that decides who may read which intelligence.

Two entry points over one shared SQL filter (DESIGN.md habit 1):
- `Policy.visible(viewer)` / `Policy.latest_visible(viewer)`: a WHERE clause over `stix_object`
  that narrows any query to what the viewer may read;
- `Policy.get_visible(conn, viewer, id)`: the same clause plus the id, else NotFound.
Every read path (API, CLI export/lookup, counts, and later TAXII, UI, correlation, notifications,
federation) obtains its rows through these, so "may I see X" and "which may I see" cannot disagree.

The rules (TLP 2.0 as DOMAIN.md §1 reads it):
- each stored version has exactly one *audience* row: `public` (CLEAR), `community` (GREEN),
  `orgs` (AMBER, AMBER+STRICT and no-TLP: the producer org plus named orgs and sharing groups) or
  `users` (RED: the submitting user plus named users);
- a viewer acting for a vetted organisation may read public, community, the orgs audiences naming
  its organisation or a group it belongs to, and the users audiences naming the viewer;
- a peer node reads what the organisations it hosts may read, GREEN/CLEAR only as a community peer,
  and never RED (DOMAIN.md: TLP:RED never leaves its node);
- a viewer acting for a pending organisation reads only CLEAR; anonymous readers read CLEAR only
  when the operator enables the public feed; the operator (console) reads nothing;
- an object is visible through its newest visible version; a relationship whose two ends are both
  hidden (stored, and no version visible) is hidden; references to hidden objects are removed from
  what is returned (`redact`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, false, not_, or_, select, union_all

from accord.db import new_id
from accord.db.schema import (
    audience,
    audience_group,
    audience_org,
    audience_user,
    group_member,
    membership,
    stix_object,
)
from accord.errors import InvalidInput, NotFound
from accord.intel.tlp import TLP
from accord.members.model import Viewer

PUBLIC_KEY = "public"
COMMUNITY_KEY = "community"


@dataclass(frozen=True)
class Share:
    """Who a submission names as its audience, beyond what its TLP level gives by itself."""

    org_ids: frozenset[int] = frozenset()
    group_ids: frozenset[int] = frozenset()
    user_ids: frozenset[int] = frozenset()


NO_SHARE = Share()


def audience_spec(
    tlp: TLP | None, producer_org_id: int, submitter_user_id: int, share: Share
) -> tuple[str, str, frozenset[int], frozenset[int], frozenset[int]]:
    """(kind, key, orgs, groups, users) of the audience a new version gets: the TLP rules, once."""
    if tlp is TLP.CLEAR:
        return "public", PUBLIC_KEY, frozenset(), frozenset(), frozenset()
    if tlp is TLP.GREEN:
        return "community", COMMUNITY_KEY, frozenset(), frozenset(), frozenset()
    if tlp is TLP.RED:
        users = share.user_ids | {submitter_user_id}
        return (
            "users",
            "users:" + ",".join(map(str, sorted(users))),
            frozenset(),
            frozenset(),
            frozenset(users),
        )
    if tlp is None:  # no TLP: AMBER+STRICT for the producer organisation alone
        orgs, groups = frozenset({producer_org_id}), frozenset[int]()
    else:
        orgs, groups = share.org_ids | {producer_org_id}, share.group_ids
    key = "orgs:" + ",".join(map(str, sorted(orgs))) + "|groups:" + ",".join(map(str, sorted(groups)))
    return "orgs", key, orgs, groups, frozenset()


def ensure_audience(
    conn: Connection, tlp: TLP | None, producer_org_id: int, submitter_user_id: int, share: Share
) -> int:
    """The id of the audience row for these rules, created on first use; many objects share one."""
    kind, key, orgs, groups, users = audience_spec(tlp, producer_org_id, submitter_user_id, share)
    found = conn.execute(select(audience.c.id).where(audience.c.key == key)).scalar()
    if found is not None:
        return int(found)
    audience_id = new_id(conn.execute(audience.insert().values(kind=kind, key=key)))
    if orgs:
        conn.execute(audience_org.insert(), [{"audience_id": audience_id, "org_id": o} for o in sorted(orgs)])
    if groups:
        conn.execute(
            audience_group.insert(), [{"audience_id": audience_id, "group_id": g} for g in sorted(groups)]
        )
    if users:
        conn.execute(
            audience_user.insert(), [{"audience_id": audience_id, "user_id": u} for u in sorted(users)]
        )
    return audience_id


def check_share(conn: Connection, viewer: Viewer, tlp: TLP | None, share: Share) -> None:
    """Refuse a named audience the TLP level does not allow (TLP 2.0, DOMAIN.md §1): CLEAR and GREEN
    name no one (everyone in reach may read them already) and neither does "no TLP" (the producer
    alone); AMBER and AMBER+STRICT name organisations and sharing groups, never single people; RED
    names people, and only people of the producer organisation. For one object shared on purpose
    (the UI's forms); a bundle's `share` applies to whichever of its objects each part fits."""
    named = share.org_ids or share.group_ids or share.user_ids
    if tlp in (None, TLP.CLEAR, TLP.GREEN):
        if named:
            level = tlp.label if tlp is not None else "no TLP (the producer organisation only)"
            raise InvalidInput(f"{level} names no one to share with", field="share_with")
        return
    if tlp is TLP.RED:
        if share.org_ids or share.group_ids:
            raise InvalidInput(
                "TLP:RED is shared with people, not organisations or groups", field="share_with"
            )
        members = set(
            conn.execute(
                select(membership.c.user_id).where(
                    membership.c.org_id == viewer.org_id, membership.c.user_id.in_(sorted(share.user_ids))
                )
            ).scalars()
        )
        if share.user_ids - members:
            raise InvalidInput(
                "TLP:RED is shared only with people of your own organisation", field="share_with"
            )
        return
    if share.user_ids:
        raise InvalidInput(
            f"{tlp.label} is shared with organisations and sharing groups, not single people",
            field="share_with",
        )


def audience_share(
    conn: Connection, audience_id: int
) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """(organisations, groups, users) one stored audience names: what its producer chose."""
    orgs = conn.execute(select(audience_org.c.org_id).where(audience_org.c.audience_id == audience_id))
    groups = conn.execute(
        select(audience_group.c.group_id).where(audience_group.c.audience_id == audience_id)
    )
    users = conn.execute(select(audience_user.c.user_id).where(audience_user.c.audience_id == audience_id))
    return frozenset(orgs.scalars()), frozenset(groups.scalars()), frozenset(users.scalars())


class Policy:
    def __init__(self, public_feed: bool = False) -> None:
        self.public_feed = public_feed

    # --- the shared filter ------------------------------------------------------------------------

    def audiences(self, viewer: Viewer) -> Select[Any]:
        """The ids of every audience that includes this viewer (resolved in SQL at query time)."""
        public = select(audience.c.id).where(audience.c.kind == "public")
        if viewer.operator or (viewer.anonymous and not self.public_feed):
            return select(audience.c.id).where(false())
        if viewer.is_peer:
            return self._peer_audiences(viewer)
        if viewer.org_id is None or not viewer.org_vetted:
            return public
        parts: list[Select[Any]] = [
            select(audience.c.id).where(audience.c.kind.in_(("public", "community"))),
            select(audience_org.c.audience_id).where(audience_org.c.org_id == viewer.org_id),
            select(audience_group.c.audience_id)
            .join(group_member, group_member.c.group_id == audience_group.c.group_id)
            .where(group_member.c.org_id == viewer.org_id),
        ]
        if viewer.user_id is not None:
            parts.append(select(audience_user.c.audience_id).where(audience_user.c.user_id == viewer.user_id))
        return select(union_all(*parts).subquery().c[0])

    @staticmethod
    def _peer_audiences(viewer: Viewer) -> Select[Any]:
        """A peer node reads what the organisations it hosts may read (AMBER naming one of them or a
        group one belongs to), GREEN and CLEAR only as a community peer, and never RED."""
        orgs = sorted(viewer.represents)
        parts: list[Select[Any]] = [
            select(audience_org.c.audience_id).where(audience_org.c.org_id.in_(orgs)),
            select(audience_group.c.audience_id)
            .join(group_member, group_member.c.group_id == audience_group.c.group_id)
            .where(group_member.c.org_id.in_(orgs)),
        ]
        if viewer.community:
            parts.append(select(audience.c.id).where(audience.c.kind.in_(("public", "community"))))
        return select(union_all(*parts).subquery().c[0])

    def audience_visible(self, viewer: Viewer, row: Any) -> ColumnElement[bool]:
        """Rows of any table with an `audience_id` (objects' versions, deletion tombstones) whose
        audience includes the viewer: what a tombstone reveals is decided like what its object did."""
        return row.c.audience_id.in_(self.audiences(viewer))

    def _hidden_ref(self, viewer: Viewer, ref: ColumnElement[Any]) -> ColumnElement[bool]:
        """The referenced id is stored, and no version of it is in an audience of the viewer."""
        end = stix_object.alias()
        return and_(
            exists().where(end.c.stix_id == ref),
            not_(exists().where(end.c.stix_id == ref, self.audience_visible(viewer, end))),
        )

    def visible(self, viewer: Viewer, row: Any = stix_object) -> ColumnElement[bool]:
        """Versions the viewer may read (any version, not only the newest)."""
        both_ends_hidden = and_(
            row.c.source_ref.is_not(None),
            self._hidden_ref(viewer, row.c.source_ref),
            self._hidden_ref(viewer, row.c.target_ref),
        )
        return and_(self.audience_visible(viewer, row), not_(both_ends_hidden))

    def latest_visible(self, viewer: Viewer, row: Any = stix_object) -> ColumnElement[bool]:
        """For each object id, the one newest version the viewer may read (ties: lowest pk)."""
        newer = stix_object.alias()
        newer_visible = exists().where(
            newer.c.stix_id == row.c.stix_id,
            or_(
                newer.c.modified_us > row.c.modified_us,
                and_(newer.c.modified_us == row.c.modified_us, newer.c.pk < row.c.pk),
            ),
            self.visible(viewer, newer),
        )
        return and_(self.visible(viewer, row), or_(row.c.is_latest, not_(newer_visible)))

    # --- single objects ---------------------------------------------------------------------------

    def get_visible(
        self, conn: Connection, viewer: Viewer, stix_id: str, modified_us: int | None = None
    ) -> Any:
        """The newest visible version (or the visible one at `modified_us`), else NotFound."""
        query = select(stix_object).where(stix_object.c.stix_id == stix_id)
        if modified_us is None:
            query = query.where(self.latest_visible(viewer))
        else:
            query = query.where(stix_object.c.modified_us == modified_us, self.visible(viewer)).order_by(
                stix_object.c.pk
            )
        row = conn.execute(query.limit(1)).first()
        if row is None:
            raise NotFound(f"no object {stix_id}" + (" at that version" if modified_us is not None else ""))
        return row

    # --- references -------------------------------------------------------------------------------

    def hidden_ids(self, conn: Connection, viewer: Viewer, ids: Iterable[str]) -> set[str]:
        """Of `ids`, those stored here that the viewer may not see: references to strip."""
        wanted = sorted(set(ids))
        hidden: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            stored = set(
                conn.execute(select(stix_object.c.stix_id).where(stix_object.c.stix_id.in_(chunk)).distinct())
                .scalars()
                .all()
            )
            if not stored:
                continue
            seen = set(
                conn.execute(
                    select(stix_object.c.stix_id)
                    .where(stix_object.c.stix_id.in_(sorted(stored)), self.visible(viewer))
                    .distinct()
                )
                .scalars()
                .all()
            )
            hidden |= stored - seen
        return hidden


def references(obj: dict[str, Any]) -> set[str]:
    """Every id an object points at through `*_ref` / `*_refs` properties, at any depth."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.endswith("_ref") and isinstance(item, str):
                    found.add(item)
                elif key.endswith("_refs") and isinstance(item, list):
                    found.update(x for x in item if isinstance(x, str))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(obj)
    return found


def redact(obj: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    """A copy of `obj` without references to hidden objects (an emptied `_refs` list is removed)."""
    if not hidden:
        return obj

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key.endswith("_ref") and isinstance(item, str):
                    if item not in hidden:
                        out[key] = item
                elif key.endswith("_refs") and isinstance(item, list):
                    kept = [x for x in item if x not in hidden]
                    if kept or not item:
                        out[key] = kept
                else:
                    out[key] = clean(item)
            return out
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    cleaned: dict[str, Any] = clean(obj)
    return cleaned


@dataclass(frozen=True)
class Decision:
    """Why one stored version is or is not readable by a viewer (for `accord policy explain`)."""

    modified_us: int
    producer_org_id: int
    visible: bool
    rule: str


def explain(conn: Connection, policy: Policy, viewer: Viewer, stix_id: str) -> list[Decision]:
    """Walk the rules for every stored version of `stix_id` and say which one decided.

    This is an operator's tool (it names hidden versions); it reuses the SQL filter for the verdict
    so it cannot disagree with what the viewer actually gets.
    """
    from accord.db.schema import org as org_table

    rows = conn.execute(
        select(
            stix_object.c.pk,
            stix_object.c.modified_us,
            stix_object.c.producer_org_id,
            stix_object.c.tlp,
            stix_object.c.source_ref,
            stix_object.c.target_ref,
            audience.c.kind,
            audience.c.id.label("aid"),
        )
        .join(audience, audience.c.id == stix_object.c.audience_id)
        .where(stix_object.c.stix_id == stix_id)
        .order_by(stix_object.c.modified_us, stix_object.c.pk)
    ).all()
    if not rows:
        raise NotFound(f"no object {stix_id} is stored on this node")
    visible_pks = set(
        conn.execute(
            select(stix_object.c.pk).where(stix_object.c.stix_id == stix_id, policy.visible(viewer))
        ).scalars()
    )
    in_audience = set(conn.execute(policy.audiences(viewer)).scalars())
    decisions = []
    for r in rows:
        level = (r.tlp or "none (treated as AMBER+STRICT for the producer)").upper()
        if viewer.operator:
            rule = "the operator manages the node but reads no intelligence through the application"
        elif viewer.anonymous:
            rule = (
                "anonymous readers see TLP:CLEAR only, and only with the public feed enabled"
                f"; this version is TLP:{level}"
            )
        elif r.aid not in in_audience:
            rule = _why_not(conn, viewer, r.kind, r.aid, level, org_table)
        elif r.pk not in visible_pks:
            rule = "a relationship whose two ends are both hidden from the viewer is hidden"
        else:
            rule = {
                "public": "TLP:CLEAR: every authenticated member may read it",
                "community": "TLP:GREEN: every vetted member organisation may read it",
                "orgs": f"TLP:{level}: the viewer's organisation is the producer, named, or in a named group",
                "users": "TLP:RED: the viewer submitted it or is a named recipient",
            }[r.kind]
        decisions.append(Decision(r.modified_us, r.producer_org_id, r.pk in visible_pks, rule))
    return decisions


def _why_not(
    conn: Connection, viewer: Viewer, kind: str, audience_id: int, level: str, org_table: Any
) -> str:
    if viewer.org_id is None:
        return "the viewer acts for no organisation, so only TLP:CLEAR is readable"
    if not viewer.org_vetted:
        return f"the viewer's organisation is pending vetting and reads only TLP:CLEAR; this is TLP:{level}"
    if kind == "users":
        return "TLP:RED: only the submitting user and named recipients may read it; the viewer is neither"
    named = (
        conn.execute(
            select(org_table.c.name)
            .join(audience_org, audience_org.c.org_id == org_table.c.id)
            .where(audience_org.c.audience_id == audience_id)
            .order_by(org_table.c.name)
        )
        .scalars()
        .all()
    )
    return (
        f"TLP:{level}: readable by {', '.join(named) or 'nobody named'} and named groups' members; "
        "the viewer's organisation is not among them"
    )
