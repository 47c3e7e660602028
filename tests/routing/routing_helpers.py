"""Helpers for the routing tests: PGP keys made on the spot, bundles of IP indicators, and the
`routed` fixture (a small alliance with contact points; import it into a test module to use it)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from accord.intel.tlp import TLP
from accord.members.model import OPERATOR


def pgp_public_key(email: str = "cert@example.org", encrypting: bool = True) -> str:
    """An Ed25519 key (with a Curve25519 encryption subkey unless not), ASCII-armoured, public half."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgpy
        from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

        key = pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519)
        key.add_uid(
            pgpy.PGPUID.new("Test team", email=email),
            usage={KeyFlags.Sign, KeyFlags.Certify},
            hashes=[HashAlgorithm.SHA256],
        )
        if encrypting:
            sub = pgpy.PGPKey.new(PubKeyAlgorithm.ECDH, EllipticCurveOID.Curve25519)
            key.add_subkey(sub, usage={KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage})
        return str(key.pubkey)


def pgp_private_key() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgpy
        from pgpy.constants import EllipticCurveOID, PubKeyAlgorithm

        return str(pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519))


def ip_bundle(values: list[str], tlp: TLP | None, **extra: Any) -> list[tuple[int, dict[str, Any], str]]:
    from stix_factory import ip_indicator, parsed

    return parsed([ip_indicator(v, tlp, **extra) for v in values])


@pytest.fixture
def routed(alliance: Any) -> Any:
    """CERT Polska (PL) and CERT.br (BR) as members with their national contact points, a producer
    in Germany, an outside law-enforcement 24/7 point for PL, and a curated abuse desk for AS12827."""
    a = alliance
    a.org("CERT Polska", "csirt", "PL")
    a.org("CERT.br", "csirt", "BR")
    a.org("Producer", "csirt", "DE")
    a.org("Telecom", "business", "PL")
    a.user("admin@cert.pl", "CERT Polska", "org-admin")
    a.user("analyst@cert.pl", "CERT Polska", "analyst")
    a.user("admin@cert.br", "CERT.br", "org-admin")
    a.user("p@producer.example", "Producer", "analyst")
    app = a.app
    app.add_contact(
        OPERATOR,
        {"name": "CERT Polska incident desk", "kind": "csirt", "org": "CERT Polska", "countries": ["PL"],
         "email": "cert@cert.pl", "languages": ["pl", "en"], "hours": "24/7", "timezone": "Europe/Warsaw",
         "pgp_key": pgp_public_key("cert@cert.pl")},
    )  # fmt: skip
    app.add_contact(
        OPERATOR,
        {"name": "CERT.br", "kind": "csirt", "org": "CERT.br", "countries": "BR", "email": "cert@cert.br",
         "languages": "pt-BR,en", "timezone": "America/Sao_Paulo", "format": "csv"},
    )  # fmt: skip
    app.add_contact(
        OPERATOR,
        {"name": "Policja 24/7", "kind": "law-enforcement", "countries": ["PL"],
         "email": "247@policja.example", "hours": "24/7", "phone": "+48 22 000 00 00"},
    )  # fmt: skip
    app.add_contact(
        OPERATOR,
        {"name": "WP abuse desk", "kind": "abuse", "asns": ["AS12827"], "email": "abuse-desk@wp.example"},
    )
    return a
