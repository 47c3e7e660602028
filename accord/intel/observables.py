"""One normalised form for observable values (IPs, CIDRs, domains, URLs, e-mails, hashes).

Sightings, indicators and SCOs from many feeds must meet on the same text and the same keys, so every
value goes through `normalise` once. IPs also get 16-byte range keys (IPv4 as IPv4-mapped IPv6) so a
single bytes comparison orders all addresses and a CIDR is one `[ip_lo, ip_hi]` range. It runs on
millions of values: regexes are compiled once and cheap shape checks come before real parsing.
"""

from __future__ import annotations

import encodings.idna
import re
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from socket import AF_INET, inet_ntop, inet_pton
from typing import Any

from accord.errors import InvalidInput

__all__ = [
    "HASH_LENGTHS",
    "KINDS",
    "Observable",
    "from_sco",
    "hash_kind",
    "ip_key",
    "network_prefix_of",
    "networks_at",
    "normalise",
    "normalise_row",
    "parent_domains",
    "refang",
    "try_normalise",
    "url_host",
]

KINDS = ("ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True, slots=True)
class Observable:
    """A normalised value; for IPs `ip_lo`/`ip_hi` bound the range (equal for a single address)."""

    kind: str
    value: str
    ip_lo: bytes | None = None
    ip_hi: bytes | None = None


# An Observable's fields as a plain tuple (kind, value, ip_lo, ip_hi): what bulk ingest stores, made
# without the cost of building an Observable (a frozen dataclass) per value.
ObservableRow = tuple[str, str, bytes | None, bytes | None]


class _Bad(Exception):
    """Internal: why a value is not of a kind (turned into InvalidInput naming the value)."""


HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_LEN_HASH = {n: k for k, n in HASH_LENGTHS.items()}
# STIX hash-algorithm keys we index (upper-cased; 'SHA1'/'SHA256' are common misspellings in feeds).
_HASH_KEYS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA1": "sha1",
    "SHA-256": "sha256",
    "SHA256": "sha256",
    "SHA-512": "sha512",
    "SHA512": "sha512",
}
_V4_PREFIX = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96, where IPv4 lives in the shared key space
_V4_MAPPED_BASE = 0xFFFF << 32
_ALL32 = (1 << 32) - 1
_ALL128 = (1 << 128) - 1
_HEXTETS = struct.Struct(">8H")
_V6_FULL = ":%x:%x:%x:%x:%x:%x:%x:%x:"  # colons at both ends so every word is ':'-delimited
_ZERO_RUNS = tuple(":0" * n + ":" for n in range(8, 1, -1))
_IPV4_CHARS = frozenset("0123456789./")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:./")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}

_REFANG_HINT = re.compile(r"[\[({]|[hH][xX][xX][pP]|[fF][xX][pP]")
_REFANG_SCHEME = re.compile(r"\b(hxxps?|fxp)(?=\[?:)", re.IGNORECASE)
_REFANG_TOKEN = re.compile(
    r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[:\]|\[://\]|\[at\]|\(at\)|\{at\}|\[@\]|\(@\)|\[/\]",
    re.IGNORECASE,
)
_REFANG_MAP = {"dot": ".", "at": "@"}
_DOMAIN_RE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_LABEL_RE = re.compile(r"[a-z0-9_-]+")
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*")
_URL_BAD_CHAR = re.compile(r"[\x00-\x20\x7f]")
_AUTHORITY_END = re.compile(r"[/?#]")
# A URL with an ASCII scheme and no whitespace or control character, split: (scheme, authority, rest).
# The authority ends at the first /, ? or # (greedy, and the rest can take all it cannot).
_URL_SPLIT = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\x00-\x20\x7f]*)([^\x00-\x20\x7f]*)").fullmatch
_IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


# --------------------------------------------------------------------------------------------- refang


def _refang_scheme(m: re.Match[str]) -> str:
    word = m.group(1).lower()
    return "ftp" if word == "fxp" else word.replace("xx", "tt")


def _refang_token(m: re.Match[str]) -> str:
    inner = m.group(0)[1:-1].lower()
    return _REFANG_MAP.get(inner, inner)


def refang(text: str) -> str:
    """Undo the usual defanging (hxxp, [.], [at], ...) so shared reports match live values."""
    s = text.strip()
    if _REFANG_HINT.search(s) is None:
        return s
    s = _REFANG_SCHEME.sub(_refang_scheme, s)
    return _REFANG_TOKEN.sub(_refang_token, s).strip()


# ------------------------------------------------------------------------------------------------ IPs


def ip_key(ip: IPv4Address | IPv6Address) -> bytes:
    """16-byte big-endian key; IPv4 is IPv4-mapped so v4 and v6 sort in one key space."""
    if isinstance(ip, IPv4Address):
        return _V4_PREFIX + ip.packed
    if isinstance(ip, IPv6Address):
        return ip.packed
    raise TypeError(f"expected an IPv4Address or IPv6Address, not {type(ip).__name__}")


def _v4_int(addr: str) -> int:
    parts = addr.split(".")
    if len(parts) != 4 or not addr.isascii():
        raise _Bad("expected four dot-separated numbers")
    n = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3:
            raise _Bad(f"octet {p!r} is not a number from 0 to 255")
        if len(p) > 1 and p[0] == "0":
            raise _Bad(f"octet {p!r} has a leading zero (ambiguous: octal?)")
        v = int(p)
        if v > 255:
            raise _Bad(f"octet {p!r} is not a number from 0 to 255")
        n = (n << 8) | v
    return n


def _prefix(text: str, bits: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > bits:
        raise _Bad(f"prefix length {text!r} is not a number from 0 to {bits}")
    return int(text)


def _v4_text(n: int) -> str:
    return ".".join(map(str, n.to_bytes(4, "big")))


def _v6_text(packed: bytes) -> str:
    """RFC 5952 text, as `ipaddress` `compressed` gives it, but several times faster.

    IPv4-mapped addresses are pinned to the dotted form (::ffff:1.2.3.4), which Python 3.13+ prints
    and 3.11 does not, so the stored value does not depend on the Python version.
    """
    if packed[:12] == _V4_PREFIX:
        return "::ffff:" + inet_ntop(AF_INET, packed[12:])
    t = _V6_FULL % _HEXTETS.unpack(packed)
    for run in _ZERO_RUNS:  # the leftmost longest run of 2+ zero words becomes '::'
        i = t.find(run)
        if i >= 0:
            t = t[:i] + "::" + t[i + len(run) :]
            break
    return t[0 if t.startswith("::") else 1 : None if t.endswith("::") else -1]


def _v4_packed(addr: str) -> bytes | None:
    """The common case at C speed; the round trip refuses forms a platform's inet_pton tolerates."""
    try:
        packed = inet_pton(AF_INET, addr)
    except (OSError, ValueError):
        return None
    return packed if inet_ntop(AF_INET, packed) == addr else None


def _parse_ipv4(s: str) -> ObservableRow:
    addr, slash, plen = s.partition("/")
    if not slash:
        packed = _v4_packed(addr)
        if packed is not None:
            key = _V4_PREFIX + packed
            return ("ipv4", addr, key, key)
    n = _v4_int(addr)
    if slash:
        p = _prefix(plen, 32)
        if p < 32:
            host = _ALL32 >> p
            lo = n & ~host & _ALL32
            hi = lo | host
            return (
                "ipv4",
                f"{_v4_text(lo)}/{p}",
                (_V4_MAPPED_BASE | lo).to_bytes(16, "big"),
                (_V4_MAPPED_BASE | hi).to_bytes(16, "big"),
            )
        addr = _v4_text(n)
    key = (_V4_MAPPED_BASE | n).to_bytes(16, "big")
    return ("ipv4", addr, key, key)


def _parse_ipv6(s: str) -> ObservableRow:
    addr, slash, plen = s.partition("/")
    if "%" in addr:
        raise _Bad("zone index (%...) is not allowed")
    try:
        key = IPv6Address(addr).packed
    except ValueError as e:
        raise _Bad(str(e)) from None
    if slash:
        p = _prefix(plen, 128)
        if p < 128:
            host = _ALL128 >> p
            lo = int.from_bytes(key, "big") & ~host & _ALL128
            lo_key = lo.to_bytes(16, "big")
            return ("ipv6", f"{_v6_text(lo_key)}/{p}", lo_key, (lo | host).to_bytes(16, "big"))
    return ("ipv6", _v6_text(key), key, key)


def _is_single(obs: Observable) -> bool:
    return obs.ip_lo is not None and obs.ip_lo == obs.ip_hi


# ---------------------------------------------------------------------------------- domains, e-mail


def _idna_label(label: str) -> str:
    if label.isascii():
        return label
    try:
        return encodings.idna.ToASCII(label).decode("ascii").lower()
    except UnicodeError:
        # IDNA 2003 (stdlib) refuses some labels (too long, prohibited code points): keep a plain
        # punycode form so the value still normalises; the length and character checks still apply.
        nfc = unicodedata.normalize("NFC", label)
        return "xn--" + nfc.encode("punycode").decode("ascii").lower()


def _domain_problem(d: str) -> str:
    for label in d.split("."):
        if not label:
            return "empty label"
        if len(label) > 63:
            return f"label {label[:20]!r}... is longer than 63 characters"
        if not _LABEL_RE.fullmatch(label):
            bad = next(c for c in label if not ("a" <= c <= "z" or "0" <= c <= "9" or c in "-_"))
            return f"character {bad!r} is not allowed (letters, digits, '-' and '_' only)"
    return "malformed"


def _domain(s: str, *, need_tld: bool) -> str:
    d = s.lower()
    if d.endswith("."):
        d = d[:-1]
    if not d:
        raise _Bad("empty domain name")
    if not d.isascii():
        d = ".".join(_idna_label(label) for label in d.translate(_IDNA_DOTS).split("."))
    if len(d) > 253:
        raise _Bad(f"longer than 253 characters ({len(d)})")
    if _DOMAIN_RE.fullmatch(d) is None:
        raise _Bad(_domain_problem(d))
    tld = d[d.rfind(".") + 1 :]
    if need_tld:
        if "." not in d:
            raise _Bad("no dot (a domain name needs a top-level label)")
        if not tld[0].isalpha():
            raise _Bad(f"top-level label {tld!r} does not start with a letter")
    elif tld.isdigit():
        raise _Bad(f"top-level label {tld!r} is all digits")
    return d


def _parse_domain(s: str) -> ObservableRow:
    return ("domain", _domain(s, need_tld=False), None, None)


def _email(s: str, *, need_tld: bool) -> ObservableRow:
    local, at, dom = s.rpartition("@")
    if not at or not local or not dom:
        raise _Bad("expected local-part@domain")
    if len(local) > 64:
        raise _Bad("local part is longer than 64 characters")
    if "@" in local and not (local[0] == local[-1] == '"' and len(local) > 1):
        raise _Bad("more than one '@'")
    if _URL_BAD_CHAR.search(local) is not None:
        raise _Bad("local part contains whitespace or a control character")
    return ("email", f"{local}@{_domain(dom, need_tld=need_tld)}", None, None)


def _parse_email(s: str) -> ObservableRow:
    return _email(s, need_tld=False)


# ----------------------------------------------------------------------------------------------- URLs


def _url_parts(s: str, explicit: bool) -> tuple[str, str, str]:
    """(lower-case scheme, authority, the rest from the first /, ? or #)."""
    m = _URL_SPLIT(s)
    if m is not None:  # one regex call for what the steps below find in several
        scheme, authority, tail = m.groups()
        return scheme.lower(), authority, tail
    if _URL_BAD_CHAR.search(s) is not None:
        raise _Bad("contains whitespace or a control character")
    i = s.find("://")
    if i < 0:
        if not explicit:
            raise _Bad("no scheme (e.g. http://)")
        s, i = "http://" + s, 4
    scheme = s[:i].lower()
    if _SCHEME_RE.fullmatch(scheme) is None:
        raise _Bad(f"invalid scheme {s[:i]!r}")
    rest = s[i + 3 :]
    m = _AUTHORITY_END.search(rest)
    j = len(rest) if m is None else m.start()
    return scheme, rest[:j], rest[j:]


def _url(s: str, *, explicit: bool) -> ObservableRow:
    scheme, authority, tail = _url_parts(s, explicit)
    userinfo, at, hostport = authority.rpartition("@")
    port = ""
    if hostport.startswith("["):
        k = hostport.find("]")
        if k < 0:
            raise _Bad("unclosed '[' in host")
        inner, after = hostport[1:k], hostport[k + 1 :]
        if after and after[0] != ":":
            raise _Bad(f"unexpected {after!r} after ']'")
        port = after[1:]
        if "/" in inner:
            raise _Bad("a URL host cannot be a network")
        host = f"[{_parse_ipv6(inner)[1]}]"
    else:
        host, colon, port = hostport.rpartition(":")
        if not colon:
            host, port = hostport, ""
        if not host:
            raise _Bad("no host")
        if ":" in host:
            raise _Bad("an IPv6 host must be in brackets")
        if host[0].isdigit() and _IPV4_CHARS.issuperset(host) and host[-1] != ".":
            host = _v4_text(_v4_int(host))
        else:
            host = _domain(host, need_tld=False)
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise _Bad(f"port {port!r} is not a number from 0 to 65535")
        port = "" if _DEFAULT_PORTS.get(scheme) == int(port) else f":{int(port)}"
    user = f"{userinfo}@" if at else ""
    return ("url", f"{scheme}://{user}{host}{port}{tail}", None, None)


def _parse_url(s: str) -> ObservableRow:
    return _url(s, explicit=True)


# --------------------------------------------------------------------------------------------- hashes


_hex_match = re.compile("[0-9a-fA-F]*").fullmatch  # ASCII hex digits only, whatever the case


def _is_hex(s: str) -> bool:
    # A regex: several times cheaper than `not s.lower().strip("0123456789abcdef")` on a long hash.
    return _hex_match(s) is not None


def _hash_parser(kind: str) -> Callable[[str], ObservableRow]:
    n = HASH_LENGTHS[kind]

    def parse(s: str) -> ObservableRow:
        if len(s) != n:
            raise _Bad(f"expected {n} hex digits, got {len(s)} characters")
        if not _is_hex(s):
            raise _Bad("not hexadecimal")
        return (kind, s.lower(), None, None)

    return parse


def hash_kind(key: str) -> str | None:
    """The kind for a STIX `hashes` key ('SHA-256', 'SHA256', 'MD5', ...), or None if not indexed."""
    return _HASH_KEYS.get(key.upper())


# ------------------------------------------------------------------------------------------ normalise

_PARSERS: dict[str, Callable[[str], ObservableRow]] = {
    "ipv4": _parse_ipv4,
    "ipv6": _parse_ipv6,
    "domain": _parse_domain,
    "url": _parse_url,
    "email": _parse_email,
    **{k: _hash_parser(k) for k in HASH_LENGTHS},
}
_LABELS = {
    "ipv4": "IPv4 address or CIDR",
    "ipv6": "IPv6 address or CIDR",
    "domain": "domain name",
    "url": "URL",
    "email": "e-mail address",
    "md5": "MD5 hash",
    "sha1": "SHA-1 hash",
    "sha256": "SHA-256 hash",
    "sha512": "SHA-512 hash",
}


def _infer(s: str) -> Observable:
    """Try kinds in a fixed order; the first kind whose shape fits explains a failure."""
    first: tuple[str, str] | None = None
    c = s[0]
    if "0" <= c <= "9" and _IPV4_CHARS.issuperset(s) and "." in s:
        try:
            return Observable(*_parse_ipv4(s))
        except _Bad as e:
            first = first or ("ipv4", str(e))
    if ":" in s and _IPV6_CHARS.issuperset(s):
        try:
            return Observable(*_parse_ipv6(s))
        except _Bad as e:
            first = first or ("ipv6", str(e))
    if "@" in s and "://" not in s:
        try:
            return Observable(*_email(s, need_tld=True))
        except _Bad as e:
            first = first or ("email", str(e))
    if "://" in s:
        try:
            return Observable(*_url(s, explicit=False))
        except _Bad as e:
            first = first or ("url", str(e))
    kind = _LEN_HASH.get(len(s))
    if kind is not None and _is_hex(s):
        return Observable(kind, s.lower())
    if "." in s or (not s.isascii() and "." in s.translate(_IDNA_DOTS)):
        try:
            return Observable("domain", _domain(s, need_tld=True))
        except _Bad as e:
            first = first or ("domain", str(e))
    if first is not None:
        raise InvalidInput(f"{s!r} is not a valid {_LABELS[first[0]]}: {first[1]}")
    raise InvalidInput(
        f"{s!r} is not a recognised observable "
        "(expected an IP address or CIDR, e-mail address, URL, MD5/SHA hash or domain name)"
    )


def normalise(raw: str, kind: str | None = None) -> Observable:
    """The one normalised form of `raw` (refanged first); the kind is inferred when not given.

    Raises InvalidInput naming the value and saying what is wrong with it.
    """
    if kind is None:
        if not isinstance(raw, str):
            raise InvalidInput(f"an observable value must be text, not {type(raw).__name__}")
        return _infer(_refanged(raw))
    return Observable(*normalise_row(raw, kind))


def normalise_row(raw: str, kind: str | None = None) -> ObservableRow:
    """`normalise(raw, kind)` as a plain (kind, value, ip_lo, ip_hi) tuple, with the same errors:
    bulk ingest stores these fields and need not build an Observable per value."""
    if not isinstance(raw, str):
        raise InvalidInput(f"an observable value must be text, not {type(raw).__name__}")
    s = raw.strip()  # as in _refanged, inline: this runs once per value of a bulk import
    if "[" in s or "(" in s or "{" in s or (s[:1] in "hHfF" and s[1:2] in "xX"):
        s = refang(s)
    if not s:
        raise InvalidInput("empty observable value")
    if kind is None:
        o = _infer(s)
        return (o.kind, o.value, o.ip_lo, o.ip_hi)
    parse = _PARSERS.get(kind)
    if parse is None:
        raise InvalidInput(f"unknown observable kind {kind!r} (expected one of {', '.join(KINDS)})")
    try:
        return parse(s)
    except _Bad as e:
        raise InvalidInput(f"{raw!r} is not a valid {_LABELS[kind]}: {e}") from None


def _refanged(raw: str) -> str:
    """`raw` stripped and refanged; InvalidInput if nothing is left."""
    s = raw.strip()
    # Cheaper than _REFANG_HINT: one value's defanged scheme can only be at its start.
    if "[" in s or "(" in s or "{" in s or (s[:1] in "hHfF" and s[1:2] in "xX"):
        s = refang(s)
    if not s:
        raise InvalidInput("empty observable value")
    return s


def try_normalise(raw: str, kind: str | None = None) -> Observable | None:
    """`normalise`, but None instead of InvalidInput: for scanning free text and feeds."""
    try:
        return normalise(raw, kind)
    except InvalidInput:
        return None


# ---------------------------------------------------------------------------------------------- SCOs

_SCO_KINDS = {
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "domain-name": "domain",
    "url": "url",
    "email-addr": "email",
}


def from_sco(obj: dict[str, Any]) -> list[Observable]:
    """The observables a STIX 2.1 SCO carries (its `value`, or a file's indexed hashes).

    An invalid value raises InvalidInput with the object id and field; other SCO types give [].
    """
    sco_type = obj.get("type")
    kind = _SCO_KINDS.get(sco_type) if isinstance(sco_type, str) else None
    if kind is not None:
        value = obj.get("value")
        if value is None:
            return []
        try:
            return [normalise(value, kind)]
        except InvalidInput as e:
            raise InvalidInput(e.detail, id=obj.get("id"), field="value") from None
    if sco_type != "file":
        return []
    hashes = obj.get("hashes")
    if not isinstance(hashes, dict):
        return []
    out: list[Observable] = []
    for key, value in hashes.items():
        hkind = hash_kind(key) if isinstance(key, str) else None
        if hkind is None:
            continue
        try:
            obs = normalise(value, hkind)
        except InvalidInput as e:
            raise InvalidInput(e.detail, id=obj.get("id"), field=f"hashes.{key}") from None
        if obs not in out:
            out.append(obs)
    return out


def url_host(url: str) -> str | None:
    """The host of a normalised URL (`scheme://host[:port]/...`), brackets of IPv6 removed."""
    start = url.find("://")
    if start < 0:
        return None
    rest = url[start + 3 :]
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    authority = rest[:end].rpartition("@")[2]
    if authority.startswith("["):
        return authority[1 : authority.find("]")] or None
    return authority.partition(":")[0] or None


def parent_domains(domain: str) -> list[str]:
    """All proper suffixes, nearest first: lets a sighting of a.b.example.com match example.com.

    Expects a normalised domain; no public-suffix logic (callers decide which suffixes matter).
    """
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


def network_prefix_of(lo: bytes, hi: bytes) -> int:
    """The prefix length, in the 128-bit key space, of the network whose keys are lo..hi."""
    size = int.from_bytes(hi, "big") - int.from_bytes(lo, "big") + 1
    return 128 - (size.bit_length() - 1)


def networks_at(obs: Observable, prefixes: Iterable[int]) -> list[bytes]:
    """The `ip_lo` keys of the networks of these prefix lengths (128-bit key space) that contain a
    single address: a lookup's probes, one per prefix length in use, each an exact index lookup
    instead of a range scan. An IPv4 address is only inside IPv4 networks (lengths 96..128)."""
    if obs.kind not in ("ipv4", "ipv6") or obs.ip_lo is None or obs.ip_lo != obs.ip_hi:
        raise ValueError(f"networks_at needs a single IP address, not {obs.kind} {obs.value!r}")
    key = int.from_bytes(obs.ip_lo, "big")
    floor = 96 if obs.kind == "ipv4" else 0
    return [((key >> (128 - p)) << (128 - p)).to_bytes(16, "big") for p in prefixes if floor <= p <= 128]
