"""Delivery: the outbox's queued notifications sent to their recipients, at least once, never lost.

One message per recipient, interval and ticket (a ticket names a fixed set of outbox rows):

1. **Claim** (one short transaction): the due rows of one group go from `queued` (their
   `next_attempt_us` has come) to `sending` by a conditional update, with `attempts + 1` and
   `next_attempt_us` set to the claim's *lease*: the time after which the claim counts as abandoned
   (`ACCORD_DELIVERY_CLAIM_SECONDS`). A random fraction of a second makes the lease unique, so it is
   also the claim's token: only the worker holding it marks the rows. A `sending` row whose lease
   has passed belongs to a worker that died mid-send; it is claimed again like a queued one (the
   reason goes to `last_error`), so a crash between sending and marking means the notification is
   sent twice, with the same ticket, Message-ID and X-ARF report ids, never lost.
2. **Prepare** (a read): the contact point as it is now (disabled or removed: `cancelled`), and
   each value's object re-checked through the policy as the recipient (`engine.recipient_viewer`):
   objects deleted, revoked or no longer visible to it since routing are left out (none left:
   `cancelled`, with the reason).
3. **Send**, outside any transaction: e-mail over SMTP (STARTTLS when offered, or required by
   `ACCORD_SMTP_STARTTLS`; PGP/MIME-encrypted when the contact has a key; text in its language,
   the values attached in its format), a signed webhook POST through the feeds' SSRF-vetted network
   backend, or, for the `taxii` channel, the objects added to the contact's own TAXII collection
   (`notification_object`, written in the marking transaction: exactly once).
4. **Mark** (conditional on the lease): `sent` with the time; or, on failure, the reason in
   `last_error` and back to `queued` after an exponential back-off, or `failed` once
   `ACCORD_DELIVERY_MAX_ATTEMPTS` are used. Failures are data, never exceptions out of `run`.

Daily digests (`accord.routing.digest`) travel the same way: their outbox rows (recipient
`digest:<subscription>`, one per day) are claimed, sent, retried and marked like any other; only what
is sent differs (the country view of the day, computed at send time as the recipient may see it).

Webhook signatures: `X-Accord-Signature: sha256=<hex>` is HMAC-SHA256 of the raw body under the
contact's secret (`webhook_secret`: derived from the node's webhook key and the contact's id, shown
to those who manage the contact); the body carries `sent` and `ticket`, and `X-Accord-Timestamp`
repeats the time, so receivers can refuse replays and drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import smtplib
import ssl
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, and_, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.db import Database
from accord.db.schema import (
    contact_point,
    digest_subscription,
    notification,
    notification_object,
    org,
    stix_object,
)
from accord.errors import Conflict, InvalidInput, NotFound
from accord.feeds.fetch import FetchFailed, FetchRefused, vet_url, vetted_client
from accord.intel.query import Renderer
from accord.intel.timestamps import format_micros, now_micros
from accord.members.service import normalise_email
from accord.policy import Policy
from accord.routing import digest as digests
from accord.routing import formats
from accord.routing.engine import Recipient, recipient_viewer
from accord.settings import Settings

__all__ = ["Deliverer", "DeliveryError", "sign", "ticket_for", "webhook_key", "webhook_secret"]

SIGNATURE_HEADER = "X-Accord-Signature"
_CHUNK = 1000
_MAX_ERROR = 2000


class DeliveryError(Exception):
    """A delivery attempt failed; `reason` is what the record says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:_MAX_ERROR]


def ticket_for(interval_us: int, first_id: int) -> str:
    """ACCORD-<yyyymmdd of the interval>-<first outbox row>: stable across retries of one message."""
    return f"ACCORD-{format_micros(interval_us)[:10].replace('-', '')}-{first_id}"


# --- webhook secrets ----------------------------------------------------------------------------------


def webhook_key(settings: Settings) -> bytes:
    """The node's webhook key: ACCORD_WEBHOOK_SECRET (hex), else `<data_dir>/webhook.key`, made on
    first use. Changing it changes every contact's secret."""
    if settings.webhook_secret:
        try:
            key = bytes.fromhex(settings.webhook_secret)
        except ValueError:
            raise ValueError("ACCORD_WEBHOOK_SECRET must be hexadecimal") from None
        if len(key) < 16:
            raise ValueError("ACCORD_WEBHOOK_SECRET must be at least 16 bytes (32 hex digits)")
        return key
    path = os.path.join(settings.data_dir, "webhook.key")
    if not os.path.exists(path):
        os.makedirs(settings.data_dir, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return bytes.fromhex(fh.read().strip())


def webhook_secret(key: bytes, contact_id: int) -> str:
    """The secret a contact's webhook receiver checks signatures with (hex)."""
    return hmac.new(key, f"accord-webhook\x1f{contact_id}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """The `X-Accord-Signature` value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- PGP -------------------------------------------------------------------------------------------------


def encrypt(armoured_key: str, data: bytes) -> str:
    """`data` encrypted to the public key (its encryption subkey), ASCII-armoured; DeliveryError
    naming the problem when the key cannot be used (it is checked on entry, but keys expire)."""
    with warnings.catch_warnings():  # pgpy warns about its imports and old algorithms
        warnings.simplefilter("ignore")
        import pgpy

        try:
            key, _ = pgpy.PGPKey.from_blob(armoured_key)
        except Exception as exc:  # pgpy raises ValueError, PGPError and worse for garbage
            raise DeliveryError(f"the contact's PGP key does not parse: {exc}") from None
        try:
            return str(key.encrypt(pgpy.PGPMessage.new(data)))
        except Exception as exc:
            raise DeliveryError(f"cannot encrypt to the contact's PGP key: {exc}") from None


# --- e-mail -----------------------------------------------------------------------------------------------


class Mailer:
    """One SMTP connection, opened on first use and kept for the run (closed on any error)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"ACCORD_SMTP_CA_FILE {self.settings.smtp_ca_file!r}: {exc}") from None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError("ACCORD_SMTP_HOST is not set: e-mail cannot be sent")
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)  # connects
        try:
            smtp.ehlo()
            tls = False
            if s.smtp_starttls != "off" and smtp.has_extn("starttls"):
                smtp.starttls(context=self._context())
                smtp.ehlo()
                tls = True
            elif s.smtp_starttls == "required":
                raise DeliveryError(
                    f"the SMTP server {self.where} does not offer STARTTLS, and ACCORD_SMTP_STARTTLS "
                    "is required"
                )
            if s.smtp_user:
                if not tls:
                    raise DeliveryError(
                        f"the SMTP password is never sent without TLS, and {self.where} offers no STARTTLS"
                    )
                smtp.login(s.smtp_user, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Message, to: str) -> None:
        for reused in (True, False):
            try:
                fresh = self._smtp is None
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.send_message(message, from_addr=self.settings.smtp_from, to_addrs=[to])
                return
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if reused and not fresh:
                    continue  # the kept connection had gone: try once on a new one
                raise DeliveryError(f"the SMTP server {self.where} closed the connection: {exc}") from None
            except DeliveryError:
                self.close()
                raise
            except smtplib.SMTPRecipientsRefused as exc:
                self.close()
                code, text = next(iter(exc.recipients.values()))
                raise DeliveryError(f"SMTP {code} for <{to}>: {_text(text)}") from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise DeliveryError(
                    f"SMTP {exc.smtp_code} from {self.where}: {_text(exc.smtp_error)}"
                ) from None
            except ssl.SSLError as exc:
                self.close()
                raise DeliveryError(f"STARTTLS with {self.where} failed: {exc}") from None
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                why = str(exc) or type(exc).__name__
                raise DeliveryError(f"the SMTP server {self.where} is unreachable: {why}") from None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def email_message(
    notice: formats.Notice, fmt: str, language: str, sender: str, to: str, pgp_key: str | None, sent_us: int
) -> EmailMessage | MIMEMultipart:
    """The mail: covering text in the language and the values attached in the format, as
    PGP/MIME (RFC 3156) when the contact has a key. Subject and Message-ID carry the ticket."""
    subject, text = formats.texts(
        language, n=len(notice.entries), ticket=notice.ticket, node=notice.node, fmt=fmt
    )
    shown = "\n".join(f"  {e.value}  {_where(e)}".rstrip() for e in notice.entries[:50])
    more = f"\n  … (+{len(notice.entries) - 50})" if len(notice.entries) > 50 else ""
    body = f"TLP:{notice.tlp.upper()}\n\n{text}\n\n{shown}{more}\n"
    name, mime, data = formats.attachment(notice, fmt)
    inner = EmailMessage(policy=SMTP_POLICY)
    inner.set_content(body, charset="utf-8")
    maintype, _, subtype = mime.partition(";")[0].partition("/")
    inner.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return envelope(inner, subject, notice.ticket, language, sender, to, pgp_key, sent_us)


def envelope(
    inner: EmailMessage, subject: str, ticket: str, language: str, sender: str, to: str, pgp_key: str | None,
    sent_us: int,
) -> EmailMessage | MIMEMultipart:  # fmt: skip
    """The message as mailed: `inner` as it is, or as PGP/MIME (RFC 3156) when the contact has a
    key; the headers (Subject, Message-ID from the ticket) outside."""
    outer: EmailMessage | MIMEMultipart
    if pgp_key:
        armoured = encrypt(pgp_key, inner.as_bytes())
        outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted", policy=SMTP_POLICY)
        control = MIMEApplication(b"Version: 1\r\n", "pgp-encrypted", _encoder=_seven_bit)
        control["Content-Description"] = "PGP/MIME version identification"
        payload = MIMEApplication(
            armoured.encode(), "octet-stream", _encoder=_seven_bit, name="encrypted.asc"
        )
        payload["Content-Disposition"] = 'inline; filename="encrypted.asc"'
        outer.attach(control)
        outer.attach(payload)
    else:
        outer = inner
    domain = sender.rpartition("@")[2] or "localhost"
    outer["Subject"] = subject
    outer["From"] = sender
    outer["To"] = to
    outer["Date"] = format_datetime(datetime.fromtimestamp(sent_us / 1e6, UTC))
    outer["Message-ID"] = f"<{ticket}@{domain}>" if ticket else make_msgid(domain=domain)
    outer["X-Accord-Ticket"] = ticket
    outer["Auto-Submitted"] = "auto-generated"
    outer["Content-Language"] = language
    return outer


def _where(e: formats.Entry) -> str:
    named = [x for x in (e.country, f"AS{e.asn}" if e.asn else None) if x]
    return f"({', '.join(named)})" if named else ""


def _seven_bit(part: MIMEApplication) -> None:
    """ASCII-armoured text needs no transfer encoding."""
    part["Content-Transfer-Encoding"] = "7bit"


# --- webhooks ------------------------------------------------------------------------------------------


def post_webhook(
    url: str, body: bytes, secret: str, ticket: str, sent_us: int, *, allow_networks: Sequence[str],
    timeout: float, resolver: Callable[[str, int], list[str]] | None = None,
) -> None:  # fmt: skip
    """POST the signed body; DeliveryError unless the receiver answers 2xx. Redirects are not
    followed (the contact's URL must be the final one)."""
    try:
        target = vet_url(url)
    except FetchRefused as exc:
        raise DeliveryError(f"webhook URL refused: {exc.detail}") from None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Accord notifier",
        SIGNATURE_HEADER: sign(secret, body),
        "X-Accord-Timestamp": str(sent_us // 1_000_000),
        "X-Accord-Ticket": ticket,
    }
    try:
        with vetted_client(allow_networks=allow_networks, timeout=timeout, resolver=resolver) as client:
            response = client.post(target, content=body, headers=headers)
    except FetchRefused as exc:
        raise DeliveryError(f"webhook refused: {exc.detail}") from None
    except FetchFailed as exc:
        raise DeliveryError(f"webhook unreachable: {exc.detail}") from None
    except httpx.TimeoutException:
        raise DeliveryError(f"webhook {url} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {url} unreachable: {exc or type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        answer = f"{response.status_code} {response.reason_phrase}".rstrip()
        where = ""
        if 300 <= response.status_code < 400:
            where = f" (to {response.headers.get('location')}; redirects are not followed)"
        raise DeliveryError(f"webhook {url} answered HTTP {answer}{where}")


# --- the delivery job -------------------------------------------------------------------------------------


@dataclass
class Claim:
    """Rows one worker holds, with the lease that is its token."""

    recipient: str
    interval_us: int
    ids: list[int]
    lease: int
    ticket: str
    attempts: int


@dataclass
class Prepared:
    channel: str
    fmt: str
    address: str
    language: str
    pgp_key: str | None
    contact_id: int | None
    org_id: int | None
    notice: formats.Notice | None  # a notification's values, or
    digest: digests.Notice | None = None  # a daily digest


@dataclass
class Report:
    sent: int = 0
    failed: int = 0  # attempts that failed (retried later, or given up)
    gave_up: int = 0
    cancelled: int = 0
    tickets: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "failed": self.failed, "gave_up": self.gave_up, "cancelled": self.cancelled,
            "tickets": self.tickets, "errors": self.errors,
        }  # fmt: skip


class Deliverer:
    """Sends due notifications; `run` is what the worker calls after routing."""

    def __init__(
        self,
        db: Database,
        policy: Policy,
        settings: Settings,
        *,
        resolver: Callable[[str, int], list[str]] | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings
        self.resolver = resolver
        self._webhook_key: bytes | None = None

    @property
    def webhook_key(self) -> bytes:
        if self._webhook_key is None:
            self._webhook_key = webhook_key(self.settings)
        return self._webhook_key

    # -- claiming -----------------------------------------------------------------------------------

    def _due(self, now: int, flush: bool) -> Any:
        queued = notification.c.status == "queued"
        if not flush:
            queued = and_(queued, notification.c.next_attempt_us <= now)
        stale = and_(notification.c.status == "sending", notification.c.next_attempt_us <= now)
        where = or_(queued, stale)
        if not self.settings.smtp_host:  # e-mail waits (queued, not failed) until SMTP is set up
            where = and_(where, notification.c.channel != "email")
        return where

    def claim(self, now: int, *, flush: bool = False) -> Claim | None:
        """Claim the due rows of one (recipient, interval, ticket) group, or None if none is due."""
        for _ in range(16):  # another worker may take the group first: look for the next one
            found, claim = self._claim_one(now, flush)
            if not found or claim is not None:
                return claim
        return None

    def _claim_one(self, now: int, flush: bool) -> tuple[bool, Claim | None]:
        """(whether a due group was found, the claim on it if this worker won it)."""
        s = self.settings
        with self.db.write() as conn:
            # A stale claim that has used every attempt is given up, not tried again.
            conn.execute(
                update(notification)
                .where(
                    notification.c.status == "sending",
                    notification.c.next_attempt_us <= now,
                    notification.c.attempts >= s.delivery_max_attempts,
                )
                .values(status="failed", updated_us=now, last_error=_stale(now, gave_up=True))
            )
            due = self._due(now, flush)
            first = conn.execute(
                select(notification.c.recipient, notification.c.interval_us, notification.c.ticket)
                .where(due)
                .order_by(notification.c.next_attempt_us, notification.c.id)
                .limit(1)
            ).first()
            if first is None:
                return False, None
            same_ticket = (
                notification.c.ticket == first.ticket
                if first.ticket is not None
                else notification.c.ticket.is_(None)
            )
            group = and_(
                notification.c.recipient == first.recipient,
                notification.c.interval_us == first.interval_us,
                same_ticket,
                due,
            )
            ids = sorted(conn.execute(select(notification.c.id).where(group)).scalars())
            if not ids:  # another worker claimed the group between the two reads: look again
                return True, None
            ticket = first.ticket or ticket_for(first.interval_us, ids[0])
            lease = now + s.delivery_claim_seconds * 1_000_000 + secrets.randbelow(1_000_000)
            conn.execute(
                update(notification)
                .where(notification.c.id.in_(ids), due)  # conditional: rows another worker took are skipped
                .values(
                    status="sending",
                    attempts=notification.c.attempts + 1,
                    next_attempt_us=lease,
                    updated_us=now,
                    ticket=ticket,
                    last_error=case(
                        (notification.c.status == "sending", _stale(now, gave_up=False)),
                        else_=notification.c.last_error,
                    ),
                )
            )
            mine = conn.execute(
                select(notification.c.id, notification.c.attempts).where(_held(ids, lease))
            ).all()
        if not mine:
            return True, None
        return True, Claim(
            recipient=first.recipient,
            interval_us=first.interval_us,
            ids=[r.id for r in mine],
            lease=lease,
            ticket=ticket,
            attempts=max(r.attempts for r in mine),
        )

    # -- preparing --------------------------------------------------------------------------------------

    def prepare(self, claim: Claim) -> Prepared | str:
        """What to send, as things are now; a str is why there is nothing to send (cancelled)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(notification).where(notification.c.id.in_(claim.ids)).order_by(notification.c.id)
            ).all()
            first = rows[0]
            if digests.is_digest(claim.recipient):
                return self._prepare_digest(conn, claim)
            if claim.recipient.startswith("contact:"):
                contact = _contact(conn, claim.recipient, int(claim.recipient.partition(":")[2]))
                if isinstance(contact, str):
                    return contact
                r, languages, pgp_key = contact
            else:  # a network's abuse mailbox from the enrichment data: X-ARF by e-mail, in English
                try:
                    normalise_email(first.address)
                except InvalidInput:
                    return f"the enrichment data's abuse mailbox {first.address!r} is not an e-mail address"
                r = Recipient(
                    key=claim.recipient, contact_id=None, org_id=None, org_vetted=False, sector=None,
                    name=first.name, kind="abuse", channel="email", format="xarf", address=first.address,
                    curated=False,
                )  # fmt: skip
                languages, pgp_key = ["en"], None
            items = [it for row in rows for it in orjson.loads(row.entries)]
            objects = self._visible_objects(conn, r, {int(it[4]) for it in items})
            entries: list[formats.Entry] = []
            seen: set[str] = set()
            used: dict[int, None] = {}
            for value, kind, country, asn, pk, rule in items:
                found = objects.get(int(pk))
                if found is None or value in seen:
                    continue
                seen.add(value)
                used[int(pk)] = None
                row, obj = found
                entries.append(
                    formats.Entry(
                        value=value, kind=kind, country=country, asn=asn, rule=rule, stix_id=row.stix_id,
                        type=row.type, tlp=row.tlp, obj=obj, added_us=row.date_added_us,
                    )
                )  # fmt: skip
        if not entries:
            return (
                "nothing left to send: the objects were deleted, revoked or are no longer visible to "
                "the recipient"
            )
        notice = formats.Notice(
            ticket=claim.ticket,
            node=self.settings.node_name,
            sender=self.settings.smtp_from,
            recipient=r.name,
            interval_us=claim.interval_us,
            entries=entries,
            objects=list({objects[pk][1]["id"]: objects[pk][1] for pk in used}.values()),
        )
        return Prepared(
            channel=r.channel, fmt=r.format, address=r.address, language=formats.language_for(languages),
            pgp_key=pgp_key, contact_id=r.contact_id, org_id=r.org_id, notice=notice,
        )  # fmt: skip

    def _prepare_digest(self, conn: Connection, claim: Claim) -> Prepared | str:
        """A daily digest: the subscription's contact point as it is now, and the country view of
        the day computed through the policy as that contact's recipient viewer."""
        sub = conn.execute(
            select(digest_subscription).where(
                digest_subscription.c.id == digests.subscription_of(claim.recipient)
            )
        ).first()
        if sub is None:
            return "the digest subscription was removed before delivery"
        found = _contact(conn, claim.recipient, sub.contact_id)
        if isinstance(found, str):
            return found
        r, languages, pgp_key = found
        if r.channel not in digests.CHANNELS:
            return f"a digest goes by e-mail or webhook; the contact point now takes {r.channel}"
        notice = digests.Notice(
            ticket=claim.ticket, node=self.settings.node_name, recipient=r.name, country=sub.country,
            day=format_micros(claim.interval_us)[:10], tlp=digests.tlp_of(r),
            content=digests.content(self.db, self.policy, r, sub.country, claim.interval_us),
        )  # fmt: skip
        return Prepared(
            channel=r.channel, fmt="json", address=r.address, language=formats.language_for(languages),
            pgp_key=pgp_key, contact_id=r.contact_id, org_id=r.org_id, notice=None, digest=notice,
        )  # fmt: skip

    def _visible_objects(
        self, conn: Connection, r: Recipient, pks: set[int]
    ) -> dict[int, tuple[Any, dict[str, Any]]]:
        """Of these stored objects, those the recipient may see now and that are not revoked, each
        rendered for it (references to what it may not see removed)."""
        viewer = recipient_viewer(r)
        wanted = sorted(pks)
        rows: list[Any] = []
        for start in range(0, len(wanted), _CHUNK):
            rows += conn.execute(
                select(stix_object).where(
                    stix_object.c.pk.in_(wanted[start : start + _CHUNK]),
                    stix_object.c.revoked.is_(False),
                    self.policy.visible(viewer),
                )
            ).all()
        rendered = Renderer(conn, self.policy, viewer).objects(rows)
        return {row.pk: (row, obj) for row, obj in zip(rows, rendered, strict=True)}

    # -- sending ----------------------------------------------------------------------------------------

    def send(self, p: Prepared, mailer: Mailer, sent_us: int) -> None:
        if p.digest is not None:
            self._send_digest(p, p.digest, mailer, sent_us)
            return
        assert p.notice is not None
        if p.channel == "email":
            if not p.address:
                raise DeliveryError("the contact point has no e-mail address")
            message = email_message(
                p.notice, p.fmt, p.language, self.settings.smtp_from, p.address, p.pgp_key, sent_us
            )
            mailer.send(message, p.address)
        elif p.channel == "webhook":
            if p.contact_id is None or not p.address:
                raise DeliveryError("a webhook needs a contact point with a URL")
            body = formats.webhook_body(p.notice, p.fmt, sent_us)
            self._post(p.address, body, p.contact_id, p.notice.ticket, sent_us)
        elif p.channel == "taxii":
            if p.org_id is None:
                raise DeliveryError(
                    "a TAXII contact point must speak for a member organisation: its members read the "
                    "contact's collection with their own tokens"
                )
            # Nothing leaves the node: the objects are added when the claim is marked sent.
        else:
            raise DeliveryError(f"unknown channel {p.channel!r}")

    def _send_digest(self, p: Prepared, d: digests.Notice, mailer: Mailer, sent_us: int) -> None:
        if p.channel == "email":
            if not p.address:
                raise DeliveryError("the contact point has no e-mail address")
            subject, inner = digests.email_content(d, p.language)
            s = self.settings
            mailer.send(envelope(inner, subject, d.ticket, p.language, s.smtp_from, p.address, p.pgp_key,
                                 sent_us), p.address)  # fmt: skip
        elif p.channel == "webhook":
            if p.contact_id is None or not p.address:
                raise DeliveryError("a webhook needs a contact point with a URL")
            self._post(p.address, digests.webhook_body(d, sent_us), p.contact_id, d.ticket, sent_us)
        else:
            raise DeliveryError(f"a digest goes by e-mail or webhook, not {p.channel!r}")

    def _post(self, url: str, body: bytes, contact_id: int, ticket: str, sent_us: int) -> None:
        allow = [n.strip() for n in self.settings.feed_allow_networks.split(",") if n.strip()]
        post_webhook(
            url, body, webhook_secret(self.webhook_key, contact_id), ticket, sent_us, allow_networks=allow,
            timeout=self.settings.webhook_timeout_seconds, resolver=self.resolver,
        )  # fmt: skip

    # -- marking ------------------------------------------------------------------------------------------

    def finish(self, claim: Claim, now: int, *, prepared: Prepared | None, error: str | None,
               cancelled: bool = False) -> str:  # fmt: skip
        """Record the outcome (only if the claim is still this worker's); returns the new status."""
        s = self.settings
        held = _held(claim.ids, claim.lease)
        values: dict[str, Any]
        if cancelled:
            values = {"status": "cancelled", "last_error": error}
        elif error is None:
            assert prepared is not None
            values = {
                "status": "sent", "sent_us": now, "last_error": None, "channel": prepared.channel,
                "format": prepared.fmt, "address": prepared.address[:2048],
            }  # fmt: skip
        elif claim.attempts >= s.delivery_max_attempts:
            values = {"status": "failed", "last_error": _gave_up(error, claim.attempts)}
        else:
            wait = wait_seconds(claim.attempts, s)
            values = {"status": "queued", "last_error": error, "next_attempt_us": now + wait * 1_000_000}
        status = values["status"]
        with self.db.write() as conn:
            done = conn.execute(update(notification).where(held).values(updated_us=now, **values)).rowcount
            if done and status == "sent" and prepared is not None and prepared.channel == "taxii":
                assert prepared.contact_id is not None and prepared.notice is not None
                _add_to_collection(conn, prepared.contact_id, claim.ids[0], prepared.notice, now)
        return status if done else "lost-claim"

    # -- the run --------------------------------------------------------------------------------------------

    def run(
        self, *, now_us: int | None = None, flush: bool = False, max_messages: int = 1000
    ) -> dict[str, Any]:
        """Send what is due (with `flush`, every queued notification, due or not), a message at a
        time, until nothing is due or `max_messages` were tried; returns what happened."""
        report = Report()
        mailer = Mailer(self.settings)
        try:
            for _ in range(max_messages):
                now = now_us if now_us is not None else now_micros()
                claim = self.claim(now, flush=flush)
                if claim is None:
                    break
                self._one(claim, mailer, now_us, report)
        finally:
            mailer.close()
        return report.as_dict()

    def _one(self, claim: Claim, mailer: Mailer, now_us: int | None, report: Report) -> None:
        prepared: Prepared | None = None
        error: str | None = None
        try:
            found = self.prepare(claim)
            if isinstance(found, str):
                self.finish(claim, _now(now_us), prepared=None, error=found, cancelled=True)
                report.cancelled += 1
                return
            prepared = found
            self.send(prepared, mailer, _now(now_us))
        except DeliveryError as exc:
            error = exc.reason
        except Exception as exc:  # a bug or an unforeseen failure: recorded and retried, never fatal
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
        status = self.finish(claim, _now(now_us), prepared=prepared, error=error)
        if status == "sent":
            report.sent += 1
            report.tickets.append(claim.ticket)
        elif status in ("queued", "failed"):
            report.failed += 1
            report.gave_up += status == "failed"
            report.errors.append({"ticket": claim.ticket, "recipient": claim.recipient, "error": error})


def _contact(conn: Connection, key: str, contact_id: int) -> tuple[Recipient, list[str], str | None] | str:
    """(recipient, languages, PGP key) of a contact point as it is now; a str: why not to send."""
    c = conn.execute(
        select(contact_point, org.c.vetted, org.c.sector)
        .outerjoin(org, org.c.id == contact_point.c.org_id)
        .where(contact_point.c.id == contact_id)
    ).first()
    if c is None:
        return "the contact point was removed before delivery"
    if not c.enabled:
        return "the contact point is disabled"
    r = Recipient(
        key=key, contact_id=c.id, org_id=c.org_id, org_vetted=bool(c.vetted), sector=c.sector, name=c.name,
        kind=c.kind, channel=c.channel, format=c.format,
        address=(c.email if c.channel == "email" else c.url) or "", curated=bool(c.curated),
    )  # fmt: skip
    return r, (c.languages.split(",") if c.languages else ["en"]), c.pgp_key


def _now(now_us: int | None) -> int:
    return now_us if now_us is not None else now_micros()


def _held(ids: list[int], lease: int) -> Any:
    return and_(
        notification.c.id.in_(ids),
        notification.c.status == "sending",
        notification.c.next_attempt_us == lease,
    )


def _stale(now: int, *, gave_up: bool) -> str:
    text = (
        f"the worker sending it stopped before recording the outcome (claim expired, seen at "
        f"{format_micros(now)}); it may have been delivered: the ticket is the same"
    )
    return text + ("; gave up: no attempts left" if gave_up else "")


def _gave_up(error: str, attempts: int) -> str:
    return f"gave up after {attempts} attempt(s): {error}"[:_MAX_ERROR]


def _add_to_collection(
    conn: Connection, contact_id: int, notification_id: int, notice: formats.Notice, now: int
) -> None:
    """The TAXII channel: the notified objects join the contact's collection (once per object)."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    ids = sorted({e.stix_id for e in notice.entries})
    for start in range(0, len(ids), _CHUNK):
        conn.execute(
            insert(notification_object).on_conflict_do_nothing(),
            [
                {
                    "contact_id": contact_id,
                    "stix_id": sid,
                    "notification_id": notification_id,
                    "added_us": now,
                }
                for sid in ids[start : start + _CHUNK]
            ],
        )


def wait_seconds(attempts: int, settings: Settings) -> int:
    """The back-off after `attempts` failed attempts: the base, doubled per attempt, capped."""
    return min(settings.delivery_backoff_seconds * 2 ** (attempts - 1), settings.delivery_backoff_max_seconds)


def requeue(conn: Connection, notification_id: int, now: int) -> list[int]:
    """Queue a failed or cancelled notification again (every row of its ticket), attempts from 0,
    due now; returns the rows requeued. Its ticket stays: it is the same notification."""
    row = conn.execute(
        select(notification.c.id, notification.c.ticket, notification.c.status).where(
            notification.c.id == notification_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    if row.status not in ("failed", "cancelled"):
        raise Conflict(
            f"notification {notification_id} is {row.status}: only failed or cancelled ones are retried",
            field="status",
        )
    group = notification.c.id == row.id if row.ticket is None else notification.c.ticket == row.ticket
    where = and_(group, notification.c.status.in_(("failed", "cancelled")))
    ids = sorted(conn.execute(select(notification.c.id).where(where)).scalars())
    conn.execute(
        update(notification)
        .where(notification.c.id.in_(ids), notification.c.status.in_(("failed", "cancelled")))
        .values(status="queued", attempts=0, next_attempt_us=now, updated_us=now)
    )
    return ids
