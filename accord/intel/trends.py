"""What a viewer's dashboard counts: the newest objects, activity over time, the infrastructure
named, sightings of the viewer's organisation's indicators. Every query starts from the policy's
filter (`latest_visible`), so a count never includes what the viewer may not see.

Counts are of objects through their newest visible version, bucketed by when that version was
added (a new version makes an object new again).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, select

from accord.db.schema import observable, org, stix_object
from accord.intel.timestamps import format_micros
from accord.members.model import Viewer
from accord.policy import Policy

IP_KINDS = ("ipv4", "ipv6")


def newest(
    conn: Connection, policy: Policy, viewer: Viewer, since_us: int, limit: int
) -> tuple[list[Any], int]:
    """The `limit` most recently added objects the viewer may see (newest first), and how many
    were added since `since_us`."""
    where = and_(policy.latest_visible(viewer), stix_object.c.date_added_us >= since_us)
    rows = conn.execute(
        select(stix_object)
        .where(where)
        .order_by(stix_object.c.date_added_us.desc(), stix_object.c.pk.desc())
        .limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(stix_object).where(where)).scalar_one()
    return list(rows), int(total)


def activity(
    conn: Connection, policy: Policy, viewer: Viewer, since_us: int, bucket_us: int
) -> list[dict[str, Any]]:
    """Visible objects added since `since_us`, counted per time bucket (0, 1, …: `bucket_us` wide)
    and per TLP, type, producer sector and producer country (one row per combination)."""
    bucket = ((stix_object.c.date_added_us - since_us) // bucket_us).label("bucket")
    rows = conn.execute(
        select(bucket, stix_object.c.tlp, stix_object.c.type, org.c.sector, org.c.country, func.count())
        .join(org, org.c.id == stix_object.c.producer_org_id)
        .where(policy.latest_visible(viewer), stix_object.c.date_added_us >= since_us)
        .group_by(bucket, stix_object.c.tlp, stix_object.c.type, org.c.sector, org.c.country)
    )
    return [
        {
            "bucket": int(b),
            "tlp": tlp or "none",
            "type": typ,
            "sector": sector,
            "country": country,
            "n": int(n),
        }
        for b, tlp, typ, sector, country, n in rows
    ]


def ip_values(conn: Connection, policy: Policy, viewer: Viewer, limit: int) -> tuple[list[str], bool]:
    """Distinct addresses and networks named by objects the viewer may see (not revoked, not on a
    warninglist), at most `limit` of them; and whether there were more."""
    rows = conn.execute(
        select(observable.c.value)
        .join(stix_object, stix_object.c.pk == observable.c.object_pk)
        .where(
            observable.c.kind.in_(IP_KINDS),
            observable.c.warninglist.is_(None),
            stix_object.c.revoked.is_(False),
            policy.latest_visible(viewer),
        )
        .distinct()
        .limit(limit + 1)
    ).scalars()
    values = list(rows)
    return values[:limit], len(values) > limit


def sightings_of_org(conn: Connection, policy: Policy, viewer: Viewer, limit: int) -> list[dict[str, Any]]:
    """The newest sightings the viewer may see of indicators its organisation produced (and the
    viewer may see), newest first, with who reported them."""
    indicator = stix_object.alias("indicator")
    rows = conn.execute(
        select(stix_object.c.content, stix_object.c.date_added_us, org.c.name, indicator.c.content)
        .join(org, org.c.id == stix_object.c.producer_org_id)
        .join(
            indicator,
            and_(
                indicator.c.stix_id == stix_object.c.target_ref,
                indicator.c.type == "indicator",
                indicator.c.producer_org_id == viewer.org_id,
                policy.latest_visible(viewer, indicator),
            ),
        )
        .where(stix_object.c.type == "sighting", policy.latest_visible(viewer))
        .order_by(stix_object.c.date_added_us.desc(), stix_object.c.pk.desc())
        .limit(limit)
    ).all()
    out = []
    for content, added, reporter, indicator_content in rows:
        obj = orjson.loads(content)
        ind = orjson.loads(indicator_content)
        out.append(
            {
                "id": obj["id"],
                "indicator": {"id": ind["id"], "name": ind.get("name"), "pattern": ind.get("pattern")},
                "reported_by": reporter,
                "count": obj.get("count", 1),
                "first_seen": obj.get("first_seen"),
                "last_seen": obj.get("last_seen"),
                "date_added": format_micros(added),
            }
        )
    return out
