"""Shared by the country-view UI tests: the UI world routed, with CERT Polska as Poland's national
contact point (a helper module, not a conftest: see ui_helpers.py)."""

from __future__ import annotations

from typing import Any

from stix_factory import ip_indicator, parsed
from ui_helpers import World, build_world

from accord.intel.tlp import TLP
from accord.members.model import OPERATOR

PL_NASK = "195.187.6.33"  # PL, AS8308 (NASK)
PL_NASK_2 = "195.187.6.34"
PL_HIDDEN = "195.187.6.35"  # PL, AS8308: the police's AMBER one, shared with CERT Polska alone
BR_NIC = "200.160.2.3"  # BR, AS22548
NASK = "NAUKOWA I AKADEMICKA SIEC KOMPUTEROWA - PANSTWOWY INSTYTUT BADAWCZY"


def build_country_world(alliance: Any) -> World:
    """The UI world (Bank BR: ana; Police PL: jan; CERT FR: eve, GREEN only) with CERT Polska, a
    member, as Poland's national contact point and Brazil's CERT outside the alliance; routed: two
    GREEN Polish addresses everyone sees, one AMBER Polish address the police shares with CERT Polska
    alone, one AMBER Brazilian address only the bank sees."""
    w = build_world(alliance)
    alliance.org("CERT Polska", sector="csirt", country="PL")
    app = w.app
    app.add_contact(
        OPERATOR,
        {"name": "CERT Polska incident desk", "kind": "csirt", "org": "CERT Polska", "countries": ["PL"],
         "email": "cert@cert-pl.example"},
    )  # fmt: skip
    app.add_contact(
        OPERATOR, {"name": "CERT.br", "kind": "csirt", "countries": ["BR"], "email": "cert@cert-br.example"}
    )
    green = [ip_indicator(v, TLP.GREEN, name=f"Scanner at {v}") for v in (PL_NASK, PL_NASK_2)]
    hidden = ip_indicator(PL_HIDDEN, TLP.AMBER, name="Police: Polish C2")
    brazil = ip_indicator(BR_NIC, TLP.AMBER, name="Bank: Brazilian host")
    w.submit("jan@police.example", green)
    jan = alliance.viewer("jan@police.example")
    app.submit(jan, parsed([hidden]), share=app.resolve_share(jan, ["org:CERT Polska"]))
    w.submit("ana@bank.example", [brazil])
    app.route_new_objects()
    app.routing.space_step_bits = 16  # the address space counted per /16: quick, and enough here
    w.objects.update(pl_green=green[0], pl_hidden=hidden, br=brazil)
    return w
