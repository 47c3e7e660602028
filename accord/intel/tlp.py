"""TLP 2.0 levels and their STIX marking definitions (DOMAIN.md §1).

We emit the OASIS TLP 2.0 marking definitions and accept the STIX 2.x TLP 1.0 ids (and OpenCTI's
AMBER+STRICT) on input; TLP:WHITE is read as CLEAR but never emitted.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class TLP(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        """Higher is more restrictive; used to pick the strictest of several markings."""
        return _RANK[self]

    @property
    def label(self) -> str:
        return "TLP:" + self.value.upper()

    @classmethod
    def parse(cls, text: str) -> TLP:
        """Accept `amber+strict`, `AMBER+STRICT`, `TLP:AMBER+STRICT`, `amber-strict`, `white`."""
        key = text.strip().lower().removeprefix("tlp:").replace("-", "+").replace("_", "+")
        if key == "white":
            key = "clear"
        try:
            return cls(key)
        except ValueError:
            raise ValueError(
                f"unknown TLP level {text!r} (use clear, green, amber, amber+strict or red)"
            ) from None


_RANK = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 3, TLP.RED: 4}

TLP20_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

#: The ids we emit.
EMIT_ID: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

#: Every id we recognise as a TLP marking, emitted or legacy.
LEVEL_OF_ID: dict[str, TLP] = {
    **{v: k for k, v in EMIT_ID.items()},
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": TLP.AMBER_STRICT,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}


def marking_definition(level: TLP) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking-definition object for `level`, as we emit it."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": EMIT_ID[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": level.label,
        "extensions": {TLP20_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level.value}},
    }


def strictest(levels: list[TLP]) -> TLP | None:
    return max(levels, key=lambda lv: lv.rank) if levels else None
