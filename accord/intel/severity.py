"""What an object states of its severity and confidence: read once at ingest (stored beside the
object, `stix_object.severity` and `.confidence`) and by routing's rules and formats.

STIX 2.1 has no severity property; feeds state one as `x_severity` (or `severity`) or as a label
`severity:LEVEL`, on Shadowserver's scale.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

__all__ = ["SEVERITIES", "confidence_of", "severity_of"]

SEVERITIES = ("info", "low", "medium", "high", "critical")  # Shadowserver's scale


def severity_of(obj: Mapping[str, Any]) -> int | None:
    """An object's severity as a rank in SEVERITIES, from `x_severity` (or `severity`) or a label
    `severity:LEVEL`; None when it states none. STIX 2.1 has no severity property of its own."""
    for key in ("x_severity", "severity"):
        value = obj.get(key)
        if isinstance(value, str):
            rank = _rank(value)
            if rank is not None:
                return rank
    labels = obj.get("labels")
    if isinstance(labels, list):
        for label in labels:
            if isinstance(label, str):
                rank = _label_rank(label)
                if rank is not None:
                    return rank
    return None


_RANKS = {level: i for i, level in enumerate(SEVERITIES)}


@functools.lru_cache(maxsize=1024)
def _rank(text: str) -> int | None:
    """The rank of a severity written in any case and spacing (routing asks this per object)."""
    return _RANKS.get(text.strip().lower())


@functools.lru_cache(maxsize=4096)
def _label_rank(label: str) -> int | None:
    """The rank a label `severity:LEVEL` (or `severity=LEVEL`) names; None for any other label."""
    key, sep, level = label.partition(":")
    if not sep:
        key, sep, level = label.partition("=")
    if sep and key.strip().lower() == "severity":
        return _rank(level)
    return None


def confidence_of(obj: Mapping[str, Any]) -> int | None:
    """An object's STIX `confidence` (0-100); None when it states none (or one outside the scale)."""
    value = obj.get("confidence")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
        return value
    return None
