"""Daily digests per country: each past UTC day's country view, sent to a contact point that
subscribed to it, as its organisation may see it.

- **Subscriptions** (`digest_subscription`): a contact point and a country. They are managed by
  whoever manages the contact point (`contacts.may_manage`: the operator and platform
  administrators for every entry, an org-admin for its organisation's), so nobody can direct
  another organisation's view to an address of their choosing. Only e-mail and webhook contacts
  (a digest is not STIX, so not for a TAXII collection).
- **Queueing** (`queue_due`, called by the worker): once a UTC day is over, one outbox row per
  subscription and day: recipient `digest:<subscription id>`, interval the day's start, seq 0. That
  is the outbox's dedupe key, so it is also the digest's idempotency key: a worker that runs twice,
  or dies after queueing and runs again, inserts nothing more (`ON CONFLICT DO NOTHING`). Missed days
  are caught up, at most `ACCORD_DIGEST_CATCH_UP_DAYS` back. A day with nothing abused is still
  sent (it says so): a recipient can tell a quiet day from a broken node.
- **Delivery** is the notifications' own (`accord.routing.delivery`): claimed, sent by e-mail
  (STARTTLS, PGP/MIME when the contact has a key, the covering text in its language) or by signed
  webhook, retried with back-off, at least once with one ticket. The content is computed at send
  time (`Routing.digest`) through the policy as the contact's recipient viewer
  (`engine.recipient_viewer`: its organisation as a whole, or, for a contact outside the alliance,
  TLP:CLEAR only, and then without directory information): the same gate as every notification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import orjson
from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from accord import audit
from accord.db import Database, new_id
from accord.db.schema import contact_point, digest_subscription, notification, org
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.intel.timestamps import format_micros
from accord.intel.tlp import TLP
from accord.members.model import Viewer
from accord.policy import Policy
from accord.routing import contacts
from accord.routing.countries import country_code
from accord.routing.engine import DAY_US, Recipient, recipient_viewer

__all__ = [
    "CHANNELS", "LANGUAGES", "PREFIX", "Notice", "content", "email_content", "is_digest",
    "list_subscriptions", "outside_viewer", "parse_day", "queue_due", "subscribe", "unsubscribe",
    "webhook_body",
]  # fmt: skip

PREFIX = "digest:"  # the outbox recipient of a digest: digest:<subscription id>
CHANNELS = ("email", "webhook")


def is_digest(recipient: str) -> bool:
    return recipient.startswith(PREFIX)


def subscription_of(recipient: str) -> int:
    return int(recipient[len(PREFIX) :])


# --- days ----------------------------------------------------------------------------------------------

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_day(text: str | None, now_us: int) -> int:
    """The start (µs, UTC) of the day `YYYY-MM-DD`; None: yesterday, the last whole day. Today may
    be asked (so far); a day to come may not."""
    today = now_us // DAY_US
    if text is None:
        return (today - 1) * DAY_US
    text = text.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"day {text!r} is not a date: want YYYY-MM-DD (UTC)", field="day") from None
    number = (day - date(1970, 1, 1)).days
    if number < 0:
        raise InvalidInput(f"day {text} is before 1970-01-01", field="day")
    if number > today:
        raise InvalidInput(f"day {text} has not begun yet (days are UTC)", field="day")
    return number * DAY_US


# --- subscriptions -------------------------------------------------------------------------------------


def _contact(conn: Connection, viewer: Viewer, name_or_id: str | int) -> Any:
    """The contact point by name or id, as the viewer may see it in the directory (else NotFound)."""
    cid = contacts.contact_id(conn, name_or_id)
    contacts.get(conn, viewer, cid)  # NotFound unless the viewer may read the entry
    return conn.execute(select(contact_point).where(contact_point.c.id == cid)).one()


def _country(country: str) -> str:
    code = country_code(country)
    if code is None:
        raise InvalidInput(f"unknown country {country!r} (want an ISO 3166-1 alpha-2 code)", field="country")
    return code


def _listed(viewer: Viewer) -> Any:
    query = (
        select(
            digest_subscription, contact_point.c.name.label("contact"), contact_point.c.org_id,
            contact_point.c.channel, contact_point.c.enabled, org.c.name.label("org_name"),
        )
        .join(contact_point, contact_point.c.id == digest_subscription.c.contact_id)
        .outerjoin(org, org.c.id == contact_point.c.org_id)
    )  # fmt: skip
    if not viewer.can_administer_platform:  # members: their own organisation's subscriptions
        query = query.where(contact_point.c.org_id == viewer.org_id, contact_point.c.org_id.is_not(None))
    return query


def _describe(conn: Connection, row: Any) -> dict[str, Any]:
    last = conn.execute(
        select(notification.c.interval_us, notification.c.status, notification.c.ticket,
               notification.c.sent_us, notification.c.last_error)
        .where(notification.c.recipient == f"{PREFIX}{row.id}")
        .order_by(notification.c.interval_us.desc())
        .limit(1)
    ).first()  # fmt: skip
    return {
        "id": row.id,
        "country": row.country,
        "contact": row.contact,
        "contact_id": row.contact_id,
        "org": row.org_name,
        "channel": row.channel,
        "enabled": bool(row.enabled),
        "created": format_micros(row.created_us),
        "last": None
        if last is None
        else {
            "day": format_micros(last.interval_us)[:10], "status": last.status, "ticket": last.ticket,
            "sent": format_micros(last.sent_us) if last.sent_us else None, "last_error": last.last_error,
        },
    }  # fmt: skip


def list_subscriptions(conn: Connection, viewer: Viewer) -> list[dict[str, Any]]:
    """Every subscription for the operator and platform administrators; a member's organisation's own."""
    rows = conn.execute(_listed(viewer).order_by(digest_subscription.c.country, contact_point.c.name)).all()
    return [_describe(conn, r) for r in rows]


def subscribe(
    conn: Connection, viewer: Viewer, country: str, contact: str | int, *, now_us: int, audit_key: bytes
) -> dict[str, Any]:
    """Subscribe a contact point to a country's daily digest (those who manage the contact point)."""
    code = _country(country)
    c = _contact(conn, viewer, contact)
    if not contacts.may_manage(viewer, c.org_id):
        raise Forbidden("only the operator and the organisation's admins subscribe its contact points")
    if c.channel not in CHANNELS:
        raise InvalidInput(
            f"contact point {c.name!r} takes {c.channel}: a digest goes by e-mail or webhook", field="contact"
        )
    taken = select(digest_subscription.c.id).where(
        digest_subscription.c.contact_id == c.id, digest_subscription.c.country == code
    )
    already = Conflict(f"{c.name!r} is subscribed to the digest of {code} already", field="country")
    if conn.execute(taken).first() is not None:
        raise already
    insert = digest_subscription.insert().values(
        contact_id=c.id, country=code, created_us=now_us, created_by=viewer.actor()[:400]
    )
    try:
        # PostgreSQL: the same subscription made at the same moment in another transaction passes
        # the check above; the unique key refuses the later one (a savepoint keeps this one usable).
        with conn.begin_nested():
            sid = new_id(conn.execute(insert))
    except IntegrityError as exc:
        if conn.execute(taken).first() is not None:  # it was that, not another constraint
            raise already from exc
        raise
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source, action="digest.subscribe",
        target=f"{code}:{c.name}", detail={"subscription": sid, "contact_id": c.id},
    )  # fmt: skip
    return _describe(conn, conn.execute(_listed(viewer).where(digest_subscription.c.id == sid)).one())


def find(conn: Connection, viewer: Viewer, country: str, contact: str | int) -> int:
    """The id of the subscription of `contact` to `country` (NotFound naming both)."""
    code = _country(country)
    c = _contact(conn, viewer, contact)
    found = conn.execute(
        select(digest_subscription.c.id).where(
            digest_subscription.c.contact_id == c.id, digest_subscription.c.country == code
        )
    ).scalar()
    if found is None:
        raise NotFound(f"{c.name!r} is not subscribed to the digest of {code}")
    return int(found)


def unsubscribe(conn: Connection, viewer: Viewer, subscription_id: int, *, audit_key: bytes) -> None:
    """Remove a subscription (those who manage its contact point). Digests already queued for it
    are cancelled at send time."""
    row = conn.execute(
        select(digest_subscription, contact_point.c.name, contact_point.c.org_id)
        .join(contact_point, contact_point.c.id == digest_subscription.c.contact_id)
        .where(digest_subscription.c.id == subscription_id)
    ).first()
    if row is None or not (
        contacts.may_read(viewer) or (row.org_id is not None and row.org_id == viewer.org_id)
    ):
        raise NotFound(f"no digest subscription {subscription_id}")
    if not contacts.may_manage(viewer, row.org_id):
        raise Forbidden("only the operator and the organisation's admins unsubscribe its contact points")
    conn.execute(delete(digest_subscription).where(digest_subscription.c.id == subscription_id))
    audit.record(
        conn, audit_key, actor=viewer.actor(), source=viewer.source, action="digest.unsubscribe",
        target=f"{row.country}:{row.name}", detail={"subscription": subscription_id},
    )  # fmt: skip


# --- queueing ------------------------------------------------------------------------------------------


def queue_due(conn: Connection, now_us: int, catch_up_days: int) -> list[tuple[int, str]]:
    """Queue the digest of every day that is over and not yet queued, per subscription (from the day
    it was made, at most `catch_up_days` back); returns (subscription id, day) of the rows written.
    A row already there (another worker, an earlier run that died) is left as it is."""
    today = now_us // DAY_US
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    due = or_(digest_subscription.c.last_day.is_(None), digest_subscription.c.last_day < today - 1)
    subs = conn.execute(
        select(digest_subscription, contact_point.c.name, contact_point.c.org_id, contact_point.c.channel,
               contact_point.c.email, contact_point.c.url)
        .join(contact_point, contact_point.c.id == digest_subscription.c.contact_id)
        .where(due)
        .order_by(digest_subscription.c.id)
    ).all()  # fmt: skip
    queued: list[tuple[int, str]] = []
    for s in subs:
        first = max(s.created_us // DAY_US, today - catch_up_days)
        if s.last_day is not None:
            first = max(first, s.last_day + 1)
        for day in range(first, today):
            address = (s.email if s.channel == "email" else s.url) or ""
            done = conn.execute(
                insert(notification)
                .values(
                    recipient=f"{PREFIX}{s.id}", interval_us=day * DAY_US, seq=0, contact_id=s.contact_id,
                    org_id=s.org_id, name=s.name[:200], channel=s.channel, format="json",
                    address=address[:2048], countries="", entries="[]", entry_count=0, status="queued",
                    attempts=0, next_attempt_us=now_us, created_us=now_us, updated_us=now_us,
                )
                .on_conflict_do_nothing()
                .returning(notification.c.id)  # no row: it was there (rowcount is -1 on psycopg)
            ).first()  # fmt: skip
            if done is not None:
                queued.append((s.id, format_micros(day * DAY_US)[:10]))
        conn.execute(
            update(digest_subscription).where(digest_subscription.c.id == s.id).values(last_day=today - 1)
        )
    return queued


# --- what a digest says ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One digest as sent: the country view of the day for the recipient, and how to name it."""

    ticket: str
    node: str
    recipient: str
    country: str
    day: str  # YYYY-MM-DD (UTC)
    tlp: str
    content: dict[str, Any]

    @property
    def file_name(self) -> str:
        return f"digest-{self.country}-{self.day}.json"


def content(db: Database, policy: Policy, r: Recipient, country: str, day_us: int) -> dict[str, Any]:
    """The digest of a day as the recipient may see it: the country view through the recipient's
    own viewer (never more than its notifications would carry)."""
    from accord.routing.service import Routing  # the service imports what delivery imports

    return Routing(db, policy).digest(recipient_viewer(r), country, day_us)


def outside_viewer() -> Viewer:
    """The viewer of a contact point outside the alliance (TLP:CLEAR only, no directory): what the
    operator, who reads no intelligence, may preview a digest as."""
    return recipient_viewer(
        Recipient(
            key=f"{PREFIX}preview", contact_id=None, org_id=None, org_vetted=False, sector=None, name="",
            kind="csirt", channel="email", format="json", address="", curated=False,
        )
    )  # fmt: skip


def tlp_of(r: Recipient) -> str:
    """A digest computed for one organisation's view is for that organisation alone; one for a
    contact outside the alliance holds TLP:CLEAR only."""
    return (TLP.AMBER_STRICT if r.org_id is not None else TLP.CLEAR).value


# Per language: subject, opening, the lines of the summary and the closing. {country} {day} {node}
# {ticket} {n}; the rest per line.
LANGUAGES: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Accord daily digest {country} {day}: {n} abused item(s)",
        "intro": (
            "Hello,\n\nThis is the daily digest of the Accord node {node} for {country} on {day} (UTC), "
            "counting what your organisation may see."
        ),
        "abused": "Abused infrastructure: {n} (IPv4 {ipv4}, IPv6 {ipv6}, domains {domain}, URLs {url})",
        "nothing": "Nothing abused was seen in {country} that day.",
        "networks": "Most abused networks:",
        "notified": (
            "Notified: {values} value(s) to {recipients} recipient(s) ({sent} sent, {queued} waiting)"
        ),
        "came_back": (
            "What came back: {sightings} sighting(s); taken down {taken_down}, mitigated {mitigated}, "
            "false positive {false_positive}, not responsible {not_responsible}"
        ),
        "outro": (
            "The whole digest is attached as JSON.\n\nTicket: {ticket}\nShould this digest reach you "
            "twice, the ticket shows it is the same one.\n\n-- Accord (automated daily digest)"
        ),
    },
    "fr": {
        "subject": "Synthèse quotidienne Accord {country} {day} : {n} élément(s) malveillant(s)",
        "intro": (
            "Bonjour,\n\nVoici la synthèse quotidienne du nœud Accord {node} pour {country}, journée du "
            "{day} (UTC), établie sur ce que votre organisation peut voir."
        ),
        "abused": (
            "Infrastructures utilisées à des fins malveillantes : {n} (IPv4 {ipv4}, IPv6 {ipv6}, domaines "
            "{domain}, URL {url})"
        ),
        "nothing": "Aucune infrastructure malveillante n'a été relevée pour {country} ce jour-là.",
        "networks": "Réseaux les plus touchés :",
        "notified": (
            "Notifiés : {values} valeur(s) à {recipients} destinataire(s) ({sent} envoyée(s), {queued} en "
            "attente)"
        ),
        "came_back": (
            "Retours : {sightings} observation(s) ; neutralisés {taken_down}, atténués {mitigated}, faux "
            "positifs {false_positive}, hors responsabilité {not_responsible}"
        ),
        "outro": (
            "La synthèse complète est jointe au format JSON.\n\nTicket : {ticket}\nSi cette synthèse vous "
            "parvient deux fois, le numéro de ticket indique qu'il s'agit de la même.\n\n-- Accord "
            "(synthèse quotidienne automatique)"
        ),
    },
    "es": {
        "subject": "Resumen diario de Accord {country} {day}: {n} elemento(s) abusado(s)",
        "intro": (
            "Hola:\n\nEste es el resumen diario del nodo Accord {node} para {country} el día {day} (UTC), "
            "según lo que su organización puede ver."
        ),
        "abused": (
            "Infraestructura utilizada de forma abusiva: {n} (IPv4 {ipv4}, IPv6 {ipv6}, dominios {domain}, "
            "URL {url})"
        ),
        "nothing": "No se detectó infraestructura abusada en {country} ese día.",
        "networks": "Redes más afectadas:",
        "notified": (
            "Notificados: {values} valor(es) a {recipients} destinatario(s) ({sent} enviados, {queued} en "
            "espera)"
        ),
        "came_back": (
            "Respuestas: {sightings} avistamiento(s); retirados {taken_down}, mitigados {mitigated}, "
            "falsos positivos {false_positive}, no responsables {not_responsible}"
        ),
        "outro": (
            "El resumen completo va adjunto en formato JSON.\n\nTicket: {ticket}\nSi recibe este resumen "
            "dos veces, el número de ticket indica que es el mismo.\n\n-- Accord (resumen diario "
            "automático)"
        ),
    },
    "pt": {
        "subject": "Resumo diário do Accord {country} {day}: {n} item(ns) abusado(s)",
        "intro": (
            "Olá,\n\nEste é o resumo diário do nó Accord {node} para {country} no dia {day} (UTC), "
            "contando o que a sua organização pode ver."
        ),
        "abused": (
            "Infraestrutura usada de forma abusiva: {n} (IPv4 {ipv4}, IPv6 {ipv6}, domínios {domain}, URL "
            "{url})"
        ),
        "nothing": "Nenhuma infraestrutura abusada foi vista em {country} nesse dia.",
        "networks": "Redes mais afetadas:",
        "notified": (
            "Notificados: {values} valor(es) para {recipients} destinatário(s) ({sent} enviados, {queued} "
            "aguardando)"
        ),
        "came_back": (
            "Retornos: {sightings} avistamento(s); derrubados {taken_down}, mitigados {mitigated}, falsos "
            "positivos {false_positive}, não responsáveis {not_responsible}"
        ),
        "outro": (
            "O resumo completo segue em anexo em JSON.\n\nTicket: {ticket}\nSe receber este resumo duas "
            "vezes, o número do ticket indica que é o mesmo.\n\n-- Accord (resumo diário automático)"
        ),
    },
    "ru": {
        "subject": "Ежедневная сводка Accord {country} {day}: объектов злоупотребления: {n}",
        "intro": (
            "Здравствуйте!\n\nЭто ежедневная сводка узла Accord {node} по стране {country} за {day} (UTC) "
            "с учётом того, что доступно вашей организации."
        ),
        "abused": (
            "Инфраструктура, используемая злоумышленниками: {n} (IPv4 {ipv4}, IPv6 {ipv6}, домены "
            "{domain}, URL {url})"
        ),
        "nothing": "В этот день для {country} злоупотреблений не обнаружено.",
        "networks": "Наиболее затронутые сети:",
        "notified": (
            "Уведомления: значений {values}, получателей {recipients} (отправлено {sent}, ожидает {queued})"
        ),
        "came_back": (
            "Обратная связь: наблюдений {sightings}; устранено {taken_down}, смягчено {mitigated}, ложных "
            "срабатываний {false_positive}, вне зоны ответственности {not_responsible}"
        ),
        "outro": (
            "Полная сводка приложена в формате JSON.\n\nНомер обращения: {ticket}\nЕсли сводка пришла "
            "дважды, номер обращения показывает, что это одна и та же сводка.\n\n-- Accord (автоматическая "
            "ежедневная сводка)"
        ),
    },
    "ar": {
        "subject": "الملخص اليومي من Accord ‏{country} ‏{day}: عدد العناصر المُساء استخدامها {n}",
        "intro": (
            "مرحباً،\n\nهذا هو الملخص اليومي من عقدة Accord ‏{node} عن {country} ليوم {day} (بالتوقيت "
            "العالمي)، بحسب ما يحق لمؤسستكم الاطلاع عليه."
        ),
        "abused": (
            "البنية التحتية المُساء استخدامها: {n} (IPv4 ‏{ipv4}، IPv6 ‏{ipv6}، النطاقات "
            "{domain}، الروابط {url})"
        ),
        "nothing": "لم تُرصد أي بنية تحتية مُساء استخدامها في {country} في ذلك اليوم.",
        "networks": "أكثر الشبكات تضرراً:",
        "notified": "الإشعارات: {values} قيمة إلى {recipients} جهة ({sent} أُرسلت، {queued} قيد الانتظار)",
        "came_back": (
            "الردود: {sightings} رصد؛ أُزيلت {taken_down}، خُففت {mitigated}، إنذارات كاذبة "
            "{false_positive}، خارج المسؤولية {not_responsible}"
        ),
        "outro": (
            "الملخص الكامل مرفق بصيغة JSON.\n\nرقم التذكرة: {ticket}\nإذا وصلكم هذا الملخص مرتين، فرقم "
            "التذكرة يدل على أنه الملخص نفسه.\n\n-- Accord (ملخص يومي آلي)"
        ),
    },
    "zh": {
        "subject": "Accord 每日摘要 {country} {day}：{n} 项被滥用",
        "intro": (
            "您好：\n\n这是 Accord 节点 {node} 关于 {country} 在 "
            "{day}（UTC）的每日摘要，按贵组织可查看的内容统计。"
        ),
        "abused": "被滥用的基础设施：{n}（IPv4 {ipv4}，IPv6 {ipv6}，域名 {domain}，URL {url}）",
        "nothing": "当天未在 {country} 发现被滥用的基础设施。",
        "networks": "受影响最多的网络：",
        "notified": "已通知：{values} 个值，发给 {recipients} 个接收方（已发送 {sent}，待发送 {queued}）",
        "came_back": (
            "反馈：{sightings} 次目击；已下线 {taken_down}，已缓解 {mitigated}，误报 "
            "{false_positive}，不属其负责 {not_responsible}"
        ),
        "outro": (
            "完整摘要以 JSON 格式附上。\n\n工单号：{ticket}\n"
            "如果您收到两次此摘要，工单号表明它们是同一摘要。\n\n-- Accord（每日自动摘要）"
        ),
    },
}


def _text(notice: Notice, language: str) -> tuple[str, str]:
    """(subject, covering text) in the language (English if it has no text)."""
    t = LANGUAGES.get(language, LANGUAGES["en"])
    c = notice.content
    base = {"country": notice.country, "day": notice.day, "node": notice.node, "ticket": notice.ticket}
    lines = [t["intro"].format(**base), ""]
    if c["abused"]:
        kinds = {k: c["by_kind"].get(k, 0) for k in ("ipv4", "ipv6", "domain", "url")}
        lines.append(t["abused"].format(n=c["abused"], **kinds))
        lines.append(t["networks"])
        for a in c["by_asn"][:10]:
            lines.append(
                f"  {'AS' + str(a['asn']) if a['asn'] else '-'}  {a['operator'] or ''}  {a['values']}"
            )
    else:
        lines.append(t["nothing"].format(**base))
    notified = c["notified"]
    lines.append(
        t["notified"].format(
            values=sum(n["values"] for n in notified), recipients=len(notified),
            sent=sum(n["sent"] for n in notified), queued=sum(n["queued"] for n in notified),
        )
    )  # fmt: skip
    back = c["came_back"]
    outcomes = {k.replace("-", "_"): v for k, v in back["outcomes"].items()}
    lines.append(t["came_back"].format(sightings=back["sightings"], **outcomes))
    lines += ["", t["outro"].format(**base)]
    return t["subject"].format(n=c["abused"], **base), "\n".join(lines)


def _document(notice: Notice) -> dict[str, Any]:
    return {
        "type": "accord-daily-digest", "ticket": notice.ticket, "node": notice.node,
        "recipient": notice.recipient, "country": notice.country, "day": notice.day, "tlp": notice.tlp,
        "digest": notice.content,
    }  # fmt: skip


def email_content(notice: Notice, language: str) -> tuple[str, EmailMessage]:
    """(subject, the message before any encryption): the covering text in the language, with the
    whole digest attached as JSON."""
    subject, text = _text(notice, language)
    inner = EmailMessage(policy=SMTP_POLICY)
    inner.set_content(f"TLP:{notice.tlp.upper()}\n\n{text}\n", charset="utf-8")
    data = orjson.dumps(_document(notice), option=orjson.OPT_INDENT_2)
    inner.add_attachment(data, maintype="application", subtype="json", filename=notice.file_name)
    return subject, inner


def webhook_body(notice: Notice, sent_us: int) -> bytes:
    """What a webhook receives: the digest with the ticket and when it was sent (signed)."""
    return orjson.dumps({**_document(notice), "sent": format_micros(sent_us)})
