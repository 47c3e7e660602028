"""Country codes: the ISO 3166-1 alpha-2 set every answer is checked against, and ccTLD -> country.

Enrichment data says more than countries: RIR files carry `EU` and `AP` for regional blocks and `ZZ`
for unassigned space. Routing needs a country that has a CERT, so anything outside ISO 3166-1 (plus
`XK`, Kosovo, which the registries use) becomes unknown. Codes are stored as small integers in bulk
tables: `COUNTRIES[i]` is the code of index i, index 0 meaning unknown.
"""

from __future__ import annotations

import encodings.idna

__all__ = ["COUNTRIES", "COUNTRY_INDEX", "country_code", "tld_country"]

_ISO = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
""".split()  # noqa: SIM905 - a table to read, not a list to format

# Index 0 is "unknown"; the rest in a fixed order so tables built by one version read in another.
COUNTRIES: tuple[str | None, ...] = (None, *_ISO)
COUNTRY_INDEX: dict[str | None, int] = {code: i for i, code in enumerate(COUNTRIES)}

# ccTLDs whose country code differs from the label, and internationalised ccTLDs (written in Unicode
# here so a reader can check them; every one is in the Public Suffix List, see the tests).
_TLD_EXCEPTIONS = {"uk": "GB", "ac": "SH"}
_IDN_CCTLDS = {
    "рф": "RU", "中国": "CN", "中國": "CN", "香港": "HK", "한국": "KR", "ไทย": "TH", "бел": "BY",
    "укр": "UA", "ελ": "GR", "مصر": "EG", "امارات": "AE", "السعودية": "SA", "台湾": "TW", "台灣": "TW",
    "भारत": "IN", "გე": "GE", "қаз": "KZ", "срб": "RS", "мкд": "MK", "հայ": "AM", "澳門": "MO",
    "新加坡": "SG", "ישראל": "IL", "ایران": "IR", "قطر": "QA", "الجزائر": "DZ", "المغرب": "MA",
    "تونس": "TN", "عمان": "OM", "فلسطين": "PS", "الاردن": "JO", "мон": "MN", "বাংলা": "BD",
    "ලංකා": "LK", "پاکستان": "PK", "سورية": "SY", "سودان": "SD", "عراق": "IQ", "مليسيا": "MY",
}  # fmt: skip
_TLD_COUNTRY = {
    **{code.lower(): code for code in _ISO if code != "XK"},
    **_TLD_EXCEPTIONS,
    **{encodings.idna.ToASCII(name).decode("ascii"): code for name, code in _IDN_CCTLDS.items()},
}


def country_code(text: object) -> str | None:
    """The ISO 3166-1 alpha-2 code `text` spells (any case, surrounding blanks ignored), else None."""
    if not isinstance(text, str):
        return None
    code = text.strip().upper()
    return code if code in COUNTRY_INDEX else None


def tld_country(tld: str | None) -> str | None:
    """The country a ccTLD belongs to (`uk` -> GB, `xn--p1ai` -> RU); None for generic TLDs, `eu`, `su`."""
    return None if tld is None else _TLD_COUNTRY.get(tld)
