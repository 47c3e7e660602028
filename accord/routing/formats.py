"""What a notification says: the recipient's language for the covering text, and its values in the
contact's format (X-ARF v4 JSON, Shadowserver-style CSV or a STIX 2.1 bundle).

Kept apart from the transport (`delivery`) so e-mail and webhooks carry the same bytes. Every id in
the output (X-ARF `report_id`, the bundle id) is derived from the ticket, so a notification sent
again after a crash is recognisably the same one.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from accord.intel.severity import SEVERITIES, severity_of
from accord.intel.timestamps import format_micros, parse_micros
from accord.intel.tlp import TLP, marking_definition

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "LANGUAGES",
    "Entry",
    "Notice",
    "attachment",
    "csv_text",
    "language_for",
    "stix_bundle",
    "texts",
    "webhook_body",
    "xarf_reports",
]

NAMESPACE = uuid.UUID("8f7c2a64-0d5e-5b1a-9c3e-7a41d2e6b905")  # Accord notifications
XARF_VERSION = "4.2.0"
MAX_EVIDENCE = 64 * 1024  # an object larger than this is named by the tags, not attached
CSV_COLUMNS = (
    "timestamp", "ip", "asn", "geo", "hostname", "url", "port", "tag", "severity", "confidence", "tlp",
    "type", "object", "ticket",
)  # fmt: skip
FORMATS = {
    # format: (file suffix, MIME type, what the covering text calls it)
    "xarf": ("xarf.json", "application/json", "X-ARF v4 JSON"),
    "csv": ("csv", "text/csv", "CSV"),
    "stix": ("stix.json", "application/stix+json;version=2.1", "STIX 2.1"),
}

# Subject and covering text per language: {n} values, {ticket}, {node}, {format}.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": (
        "Abuse notification {ticket}: {n} item(s) on your networks",
        "Hello,\n\nThe Accord node {node} found {n} abused address(es), domain(s) or URL(s) in your "
        "constituency. The details are attached ({format}).\n\nTicket: {ticket}\nPlease quote the ticket "
        "in any reply. Should this notification reach you twice, the ticket shows it is the same one.\n\n"
        "-- Accord (automated notification)",
    ),
    "fr": (
        "Notification d'abus {ticket} : {n} élément(s) sur vos réseaux",
        "Bonjour,\n\nLe nœud Accord {node} a relevé {n} adresse(s), domaine(s) ou URL utilisés à des fins "
        "malveillantes dans votre périmètre. Le détail est en pièce jointe ({format}).\n\nTicket : {ticket}\n"
        "Merci de rappeler ce numéro dans toute réponse. Si cette notification vous parvient deux fois, le "
        "numéro de ticket indique qu'il s'agit de la même.\n\n-- Accord (notification automatique)",
    ),
    "es": (
        "Notificación de abuso {ticket}: {n} elemento(s) en sus redes",
        "Hola:\n\nEl nodo Accord {node} ha detectado {n} dirección(es), dominio(s) o URL utilizados de forma "
        "abusiva en su ámbito. Encontrará los detalles en el adjunto ({format}).\n\nTicket: {ticket}\n"
        "Indique este número en cualquier respuesta. Si recibe esta notificación dos veces, el número de "
        "ticket indica que es la misma.\n\n-- Accord (notificación automática)",
    ),
    "pt": (
        "Notificação de abuso {ticket}: {n} item(ns) nas suas redes",
        "Olá,\n\nO nó Accord {node} encontrou {n} endereço(s), domínio(s) ou URL usados de forma abusiva na "
        "sua área de atuação. Os detalhes estão em anexo ({format}).\n\nTicket: {ticket}\nIndique este "
        "número em qualquer resposta. Se receber esta notificação duas vezes, o número do ticket indica que "
        "é a mesma.\n\n-- Accord (notificação automática)",
    ),
    "ru": (
        "Уведомление о злоупотреблении {ticket}: объектов в ваших сетях: {n}",
        "Здравствуйте!\n\nУзел Accord {node} обнаружил в зоне вашей ответственности IP-адреса, домены или "
        "URL, используемые злоумышленниками (всего: {n}). Подробности во вложении ({format}).\n\n"
        "Номер обращения: {ticket}\nПожалуйста, указывайте этот номер в ответе. Если уведомление пришло "
        "дважды, номер обращения показывает, что это одно и то же уведомление.\n\n"
        "-- Accord (автоматическое уведомление)",
    ),
    "ar": (
        "إشعار إساءة استخدام {ticket}: عدد العناصر في شبكاتكم {n}",
        "مرحباً،\n\nرصدت عقدة Accord ‏{node} عناوين أو نطاقات أو روابط يُساء استخدامها ضمن نطاق مسؤوليتكم "
        "(العدد: {n}). التفاصيل في المرفق ({format}).\n\nرقم التذكرة: {ticket}\nيرجى ذكر رقم التذكرة في أي "
        "رد. إذا وصلكم هذا الإشعار مرتين، فرقم التذكرة يدل على أنه الإشعار نفسه.\n\n-- Accord (إشعار آلي)",
    ),
    "zh": (
        "滥用通知 {ticket}：您的网络中有 {n} 项",
        "您好：\n\nAccord 节点 {node} 在您负责的范围内发现了 {n} 个被滥用的 IP 地址、域名或 URL。"
        "详细信息见附件（{format}）。\n\n工单号：{ticket}\n回复时请注明此工单号。如果您收到两次此通知，工单号表明它们是同一通知。\n\n"
        "-- Accord（自动通知）",
    ),
}


def language_for(languages: Sequence[str]) -> str:
    """The first of the contact's languages (most preferred first) that has a text, else English;
    a regional tag counts as its language (pt-BR: pt)."""
    for tag in languages:
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES:
            return base
    return "en"


def texts(language: str, *, n: int, ticket: str, node: str, fmt: str) -> tuple[str, str]:
    """(subject, covering text) in the language (English if there is no text for it)."""
    subject, body = LANGUAGES.get(language, LANGUAGES["en"])
    values = {"n": n, "ticket": ticket, "node": node, "format": FORMATS[fmt][2]}
    return subject.format(**values), body.format(**values)


@dataclass(frozen=True)
class Entry:
    """One notified value with the object it came from (as the recipient may see it)."""

    value: str
    kind: str  # ipv4, ipv6, domain, url
    country: str | None
    asn: int | None
    rule: str
    stix_id: str
    type: str
    tlp: str | None
    obj: dict[str, Any]
    added_us: int


@dataclass(frozen=True)
class Notice:
    """Everything a notification says, whatever carries it."""

    ticket: str
    node: str
    sender: str  # the node's e-mail address (X-ARF reporter and sender)
    recipient: str
    interval_us: int
    entries: list[Entry]
    objects: list[dict[str, Any]] = field(default_factory=list)  # rendered for the recipient (STIX)

    @property
    def tlp(self) -> str:
        """The strictest TLP of the values (objects without a marking count as AMBER+STRICT)."""
        levels = [TLP.parse(e.tlp) if e.tlp else TLP.AMBER_STRICT for e in self.entries]
        return max(levels, key=lambda t: t.rank).value if levels else TLP.CLEAR.value


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def _when(e: Entry) -> int:
    """When the abuse was seen: the indicator's valid_from, else the object's created, else when
    it was stored."""
    for key in ("valid_from", "first_seen", "created"):
        text = e.obj.get(key)
        if isinstance(text, str):
            try:
                return parse_micros(text)
            except ValueError:
                continue
    return e.added_us


def _host(e: Entry) -> tuple[str, str, str, str]:
    """(ip, hostname, url, port) columns of a value."""
    if e.kind in ("ipv4", "ipv6"):
        return e.value, "", "", ""
    if e.kind == "domain":
        return "", e.value, "", ""
    parts = urlsplit(e.value)
    host = (parts.hostname or "").strip("[]")
    try:
        port = str(parts.port or "")
    except ValueError:
        port = ""
    is_ip = host.replace(".", "").isdigit() or ":" in host
    return (host if is_ip else "", "" if is_ip else host, e.value, port)


def _tag(text: str) -> str:
    """A predicate X-ARF accepts in a tag: lower case, letters, digits, _ + -."""
    out = "".join(c if c.isalnum() or c in "_+-" else "-" for c in text.lower()).strip("-_+")
    return out or "unknown"


def _threat_type(e: Entry) -> str:
    kinds = e.obj.get("indicator_types") or e.obj.get("infrastructure_types") or []
    if isinstance(kinds, list) and kinds and isinstance(kinds[0], str):
        return kinds[0].replace("-", "_")
    return "malicious_activity"


def xarf_reports(n: Notice) -> list[dict[str, Any]]:
    """One X-ARF v4 report per value (`reputation` / `threat_intelligence`: what an intelligence
    alliance knows about the value), from the node as reporter and sender."""
    domain = n.sender.rpartition("@")[2] or "localhost"
    party = {"org": n.node[:200], "contact": n.sender, "domain": domain}
    out = []
    for e in n.entries:
        report: dict[str, Any] = {
            "xarf_version": XARF_VERSION,
            "report_id": _uuid(n.ticket, e.value),
            "timestamp": format_micros(_when(e)),
            "reporter": party,
            "sender": party,
            "source_identifier": e.value,
            "category": "reputation",
            "type": "threat_intelligence",
            "threat_type": _threat_type(e),
            "evidence_source": "threat_intelligence",
        }
        confidence = e.obj.get("confidence")
        if isinstance(confidence, int) and not isinstance(confidence, bool) and 0 <= confidence <= 100:
            report["confidence"] = confidence / 100
        about = e.obj.get("name") or e.obj.get("description")
        if isinstance(about, str) and about.strip():
            report["description"] = about.strip()[:1000]
        evidence = orjson.dumps(e.obj)
        if len(evidence) <= MAX_EVIDENCE:
            report["evidence"] = [
                {
                    "content_type": "application/stix+json",
                    "description": f"The STIX {e.type} naming the value, as you may see it"[:500],
                    "payload": base64.b64encode(evidence).decode(),
                    "hash": "sha256:" + hashlib.sha256(evidence).hexdigest(),
                    "size": len(evidence),
                }
            ]
        tags = [f"ticket:{_tag(n.ticket)}", f"tlp:{_tag(e.tlp or 'amber+strict')}", f"stix:{_tag(e.type)}"]
        if e.country:
            tags.append(f"country:{e.country.lower()}")
        if e.asn:
            tags.append(f"asn:{e.asn}")
        severity = severity_of(e.obj)
        if severity is not None:
            tags.append(f"severity:{SEVERITIES[severity]}")
        report["tags"] = tags
        out.append(report)
    return out


def csv_text(n: Notice) -> str:
    """Shadowserver-style rows, one per value: timestamp (UTC), ip, asn, geo, hostname, … ticket."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in n.entries:
        ip, hostname, url, port = _host(e)
        severity = severity_of(e.obj)
        confidence = e.obj.get("confidence")
        tags = e.obj.get("indicator_types") or e.obj.get("labels") or []
        writer.writerow(
            [
                format_micros(_when(e))[:19].replace("T", " "), ip, e.asn or "", e.country or "", hostname,
                url, port, ";".join(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else "",
                SEVERITIES[severity] if severity is not None else "",
                confidence if isinstance(confidence, int) and not isinstance(confidence, bool) else "",
                e.tlp or "amber+strict", e.kind, e.stix_id, n.ticket,
            ]
        )  # fmt: skip
    return buf.getvalue()


def stix_bundle(n: Notice) -> dict[str, Any]:
    """The notified objects as the recipient may see them, with the TLP marking definitions used."""
    used = {TLP.parse(e.tlp) for e in n.entries if e.tlp}
    markings = [marking_definition(level) for level in sorted(used, key=lambda t: t.rank)]
    return {"type": "bundle", "id": f"bundle--{_uuid(n.ticket)}", "objects": [*n.objects, *markings]}


def attachment(n: Notice, fmt: str) -> tuple[str, str, bytes]:
    """(file name, MIME type, bytes) of the values in the format."""
    suffix, mime, _label = FORMATS[fmt]
    if fmt == "xarf":
        data = orjson.dumps(xarf_reports(n), option=orjson.OPT_INDENT_2)
    elif fmt == "csv":
        data = csv_text(n).encode()
    else:
        data = orjson.dumps(stix_bundle(n), option=orjson.OPT_INDENT_2)
    return f"{n.ticket}.{suffix}", mime, data


def webhook_body(n: Notice, fmt: str, sent_us: int) -> bytes:
    """The JSON a webhook receives: the ticket, when it was sent (the signature covers it, so a
    receiver can refuse replays), and the values in the contact's format."""
    doc: dict[str, Any] = {
        "ticket": n.ticket,
        "sent": format_micros(sent_us),
        "node": n.node,
        "recipient": n.recipient,
        "interval": format_micros(n.interval_us),
        "tlp": n.tlp,
        "format": fmt,
        "count": len(n.entries),
    }
    if fmt == "xarf":
        doc["reports"] = xarf_reports(n)
    elif fmt == "csv":
        doc["csv"] = csv_text(n)
    else:
        doc["bundle"] = stix_bundle(n)
    return orjson.dumps(doc)
