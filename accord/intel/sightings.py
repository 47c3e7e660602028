"""Sightings and scores: members say they saw an indicator; an indicator's score says how much to
trust it now, and shows how it was computed.

A sighting is a STIX `sighting` object like any other (stored, versioned, under the policy). One
reported through Accord is by default TLP:AMBER shared with the indicator's producer, so the
producer learns it was seen; the reporter may choose a stricter or wider marking.

An *outcome report* (what a notified recipient did about the object: taken down, mitigated, a false
positive, not responsible for it) is the same thing: a sighting carrying `x_accord_outcome`
(`validate.OUTCOMES`, checked at the door for every sighting from anywhere). Plain sightings have none.

The score (0-100) of an indicator, for one reader, from what that reader may see:
    score = confidence × freshness × (1 + corroboration), capped at 100
- confidence: the indicator's STIX `confidence`, else 50 ("no confidence given");
- freshness: 0.5 ^ (age / half-life), the age counted from the newest of its `valid_from`, its
  `modified` and the last time a visible sighting saw it (a fresh sighting keeps it fresh);
- corroboration: 0.25 for every organisation that reported a visible sighting, at most 1.0;
- disputes: every organisation that reported it a false positive (a visible outcome report) halves
  the score; its reports neither corroborate nor refresh, and neither do "not responsible" reports
  (they say who should act, not that it was seen);
- a revoked or expired (`valid_until` past) indicator scores 0.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import orjson
from sqlalchemy import Connection, select

from accord.db.schema import org, stix_object
from accord.errors import InvalidInput
from accord.ingest import org_namespace, stable_id
from accord.intel.severity import confidence_of
from accord.intel.timestamps import format_micros, parse_micros
from accord.intel.tlp import EMIT_ID, TLP
from accord.intel.validate import OUTCOME_PROPERTY, OUTCOMES, SDO_TYPES
from accord.members.model import Viewer
from accord.policy import Policy

DEFAULT_CONFIDENCE = 50
CORROBORATION_PER_ORG = 0.25
SIGHTABLE = SDO_TYPES  # STIX 2.1 §5.2: `sighting_of_ref` points at an SDO (never an SCO)
DISPUTE_FACTOR = 0.5  # per organisation that reported the indicator a false positive
_NOT_SEEN = ("false-positive", "not-responsible")  # outcomes that are no evidence it was seen
_DAY_US = 86_400_000_000


def org_identity(org_id: int, name: str, created_us: int) -> dict[str, Any]:
    """The STIX identity that stands for a member organisation in what Accord writes for it."""
    when = format_micros(created_us)
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": stable_id("identity", org_namespace(org_id), "organisation"),
        "created": when,
        "modified": when,
        "name": name,
        "identity_class": "organization",
        "object_marking_refs": [EMIT_ID[TLP.GREEN]],
    }


def sighting_object(
    indicator_id: str,
    identity_id: str,
    *,
    count: int,
    first_seen_us: int | None,
    last_seen_us: int | None,
    description: str | None,
    tlp: TLP,
    now_us: int,
    outcome: str | None = None,
) -> dict[str, Any]:
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}", field="outcome")
    if not 0 <= count <= 999_999_999:
        raise InvalidInput("count must be between 0 and 999,999,999", field="count")
    if first_seen_us is not None and last_seen_us is not None and last_seen_us < first_seen_us:
        raise InvalidInput("last_seen must not be before first_seen", field="last_seen")
    when = format_micros(now_us)
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": when,
        "modified": when,
        "created_by_ref": identity_id,
        "sighting_of_ref": indicator_id,
        "count": count,
        "where_sighted_refs": [identity_id],
        "object_marking_refs": [EMIT_ID[tlp]],
    }
    if first_seen_us is not None:
        obj["first_seen"] = format_micros(first_seen_us)
    if last_seen_us is not None:
        obj["last_seen"] = format_micros(last_seen_us)
    if description:
        obj["description"] = description
    if outcome is not None:
        obj[OUTCOME_PROPERTY] = outcome
    return obj


def sightings_of(conn: Connection, policy: Policy, viewer: Viewer, stix_id: str) -> list[dict[str, Any]]:
    """The newest visible version of every sighting of `stix_id`, with who reported it."""
    rows = conn.execute(
        select(stix_object.c.content, stix_object.c.date_added_us, org.c.name)
        .join(org, org.c.id == stix_object.c.producer_org_id)
        .where(
            stix_object.c.target_ref == stix_id,
            stix_object.c.type == "sighting",
            policy.latest_visible(viewer),
        )
        .order_by(stix_object.c.date_added_us, stix_object.c.pk)
    ).all()
    out = []
    for content, added, reporter in rows:
        obj = orjson.loads(content)
        out.append(
            {
                "id": obj["id"],
                "reported_by": reporter,
                "count": obj.get("count", 1),
                "first_seen": obj.get("first_seen"),
                "last_seen": obj.get("last_seen"),
                "outcome": obj.get(OUTCOME_PROPERTY),
                "date_added": format_micros(added),
            }
        )
    return out


def _micros(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_micros(value)
    except ValueError:
        return None


def score(
    conn: Connection, policy: Policy, viewer: Viewer, indicator_id: str, half_life_days: int, now_us: int
) -> dict[str, Any]:
    """The indicator's score for this viewer, with every input and step (see the module doc)."""
    row = policy.get_visible(conn, viewer, indicator_id)
    if row.type != "indicator":
        raise InvalidInput(f"{indicator_id} is a {row.type}, not an indicator", field="id")
    obj = orjson.loads(row.content)
    sightings = sightings_of(conn, policy, viewer, indicator_id)
    explanation: list[str] = []

    confidence = confidence_of(obj)
    if confidence is not None:
        explanation.append(f"confidence {confidence} (from the indicator)")
    else:
        confidence = DEFAULT_CONFIDENCE
        explanation.append(f"confidence {confidence} (none given; the default)")

    seen_by = [s for s in sightings if s["outcome"] not in _NOT_SEEN]
    times = [t for t in (_micros(obj.get("valid_from")), row.modified_us) if t]
    last_sighting = max(
        (t for s in seen_by if (t := _micros(s["last_seen"] or s["date_added"]))), default=None
    )
    if last_sighting is not None:
        times.append(last_sighting)
    freshest = max(times) if times else now_us
    age_days = max(0.0, (now_us - freshest) / _DAY_US)
    freshness = math.pow(0.5, age_days / half_life_days)
    explanation.append(
        f"freshness {freshness:.3f}: last activity {format_micros(freshest)}, {age_days:.1f} days ago, "
        f"half-life {half_life_days} days"
    )

    reporters = sorted({s["reported_by"] for s in seen_by})
    corroboration = min(1.0, CORROBORATION_PER_ORG * len(reporters))
    seen = sum(int(s["count"]) for s in seen_by)
    explanation.append(
        f"corroboration {corroboration:.2f}: {len(seen_by)} sighting(s) ({seen} time(s) seen) "
        f"by {len(reporters)} organisation(s) you may see"
    )
    disputing = sorted({s["reported_by"] for s in sightings if s["outcome"] == "false-positive"})
    disputed = math.pow(DISPUTE_FACTOR, len(disputing))
    if disputing:
        explanation.append(
            f"disputed {disputed:.3f}: {len(disputing)} organisation(s) you may see reported it a false "
            f"positive (× {DISPUTE_FACTOR} each)"
        )

    value = min(100.0, confidence * freshness * (1 + corroboration) * disputed)
    valid_until = _micros(obj.get("valid_until"))
    if row.revoked:
        value = 0.0
        explanation.append("revoked: score 0")
    elif valid_until is not None and valid_until < now_us:
        value = 0.0
        explanation.append(f"expired at {format_micros(valid_until)}: score 0")
    else:
        dispute = f" × {disputed:.3f}" if disputing else ""
        explanation.append(
            f"score = {confidence} × {freshness:.3f} × (1 + {corroboration:.2f}){dispute} = {value:.1f}, "
            "capped at 100"
        )
    return {
        "indicator": indicator_id,
        "score": round(value),
        "computed_at": format_micros(now_us),
        "components": {
            "confidence": confidence,
            "freshness": round(freshness, 4),
            "age_days": round(age_days, 2),
            "half_life_days": half_life_days,
            "corroboration": corroboration,
            "sightings": len(sightings),
            "times_seen": seen,
            "reporting_organisations": reporters,
            "false_positive_organisations": disputing,
        },
        "explanation": explanation,
    }
