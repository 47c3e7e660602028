"""Every table, declared once with SQLAlchemy Core; Alembic migrations are generated from this.

Timestamps are integer microseconds since the epoch (UTC) so ordering and ranges behave the same on
SQLite and PostgreSQL; IP ranges are 16-byte big-endian keys (IPv4 mapped into IPv6) so containment
is a byte-range comparison on both engines.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- members -------------------------------------------------------------------------------------

org = Table(
    "org",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("sector", String(40), nullable=False),
    Column("country", String(2), nullable=False),
    Column("vetted", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    # The peer node that hosts this organisation (None: hosted here). Remote organisations are how
    # the policy names who a peer represents, and who produced what a peer sent.
    Column("node", String(200)),
)

user = Table(
    "user_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("language", String(16), nullable=False),
    Column("password_hash", Text),
    Column("platform_admin", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

membership = Table(
    "membership",
    metadata,
    Column("user_id", Integer, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", Integer, ForeignKey("org.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(20), nullable=False),
    Index("ix_membership_org", "org_id"),
)

sharing_group = Table(
    "sharing_group",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("owner_org_id", Integer, ForeignKey("org.id"), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

group_member = Table(
    "group_member",
    metadata,
    Column("group_id", Integer, ForeignKey("sharing_group.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", Integer, ForeignKey("org.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_group_member_org", "org_id"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("user_id", Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Integer, ForeignKey("org.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(200), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger),
    Column("revoked_us", BigInteger),
    Column("last_used_us", BigInteger),
    # None: every collection the user may use; else "collection-id:r" / "collection-id:rw", comma
    # separated: the token reads (and writes) only there, never more than its scopes allow.
    Column("collections", Text),
    Index("ix_api_token_user", "user_id"),
)

auth_failure = Table(
    "auth_failure",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(400), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_auth_failure_key_at", "key", "at_us"),
)

# --- who may read: audiences (DESIGN.md "Audience sets") -----------------------------------------

audience = Table(
    "audience",
    metadata,
    Column("id", Integer, primary_key=True),
    # public (CLEAR), community (GREEN), orgs (AMBER, AMBER+STRICT, no TLP), users (RED)
    Column("kind", String(16), nullable=False),
    # canonical description, e.g. "orgs:o3,o7,g2": many objects share one audience row
    Column("key", String(2000), nullable=False, unique=True),
)

audience_org = Table(
    "audience_org",
    metadata,
    Column("audience_id", Integer, ForeignKey("audience.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", Integer, ForeignKey("org.id"), primary_key=True),
    Index("ix_audience_org_org", "org_id"),
)

audience_group = Table(
    "audience_group",
    metadata,
    Column("audience_id", Integer, ForeignKey("audience.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", Integer, ForeignKey("sharing_group.id"), primary_key=True),
    Index("ix_audience_group_group", "group_id"),
)

audience_user = Table(
    "audience_user",
    metadata,
    Column("audience_id", Integer, ForeignKey("audience.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("user_account.id"), primary_key=True),
    Index("ix_audience_user_user", "user_id"),
)

# --- intelligence --------------------------------------------------------------------------------

stix_object = Table(
    "stix_object",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("stix_id", String(300), nullable=False),
    Column("type", String(250), nullable=False),
    Column("spec_version", String(8), nullable=False),
    Column("created_us", BigInteger),
    Column("modified_us", BigInteger, nullable=False),  # SCOs (unversioned) use 0
    Column("revoked", Boolean, nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("tlp", String(16)),  # None: no TLP marking given (treated as AMBER+STRICT for the producer)
    Column("audience_id", Integer, ForeignKey("audience.id"), nullable=False),
    Column("producer_org_id", Integer, ForeignKey("org.id"), nullable=False),
    Column("submitter_user_id", Integer, ForeignKey("user_account.id"), nullable=False),
    Column("date_added_us", BigInteger, nullable=False),
    Column("source_ref", String(300)),  # relationships: their ends, so the policy can hide a
    Column("target_ref", String(300)),  # relationship whose ends are both hidden, in SQL
    Column("content_hash", LargeBinary(32), nullable=False),
    Column("content", Text, nullable=False),  # the object's JSON exactly as received
    # What the object states (accord/intel/severity.py), read once at ingest so routing's rules
    # never parse stored JSON: severity as a rank in SEVERITIES, confidence 0-100; None: none stated.
    Column("severity", SmallInteger),
    Column("confidence", SmallInteger),
    # Each producer organisation keeps its own history of an id (an SCO's id is derived from its
    # value, so two organisations legitimately hold "the same" object with their own markings).
    # A unique index, not a table constraint, so a bulk load into an empty store can build it last.
    Index("uq_stix_object_version", "stix_id", "modified_us", "producer_org_id", unique=True),
    Index("ix_stix_object_added", "date_added_us", "pk"),
    Index("ix_stix_object_type_added", "type", "date_added_us"),
    # Relationships' targets and sightings' `sighting_of_ref`: "what points at this object".
    Index(
        "ix_stix_object_target",
        "target_ref",
        sqlite_where=text("target_ref IS NOT NULL"),
        postgresql_where=text("target_ref IS NOT NULL"),
    ),
    # No index on audience_id on purpose: visibility is a filter, never a way in; with one, planners
    # drive queries from it (scanning every visible object) instead of from ids, values or dates.
)

observable = Table(
    "observable",
    metadata,
    Column("object_pk", BigInteger, ForeignKey("stix_object.pk", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", String(2048), nullable=False),
    Column("ip_lo", LargeBinary(16)),
    Column("ip_hi", LargeBinary(16)),
    # The warninglist that names this value as known-benign when it was stored (None: none does):
    # such values are kept but never hit in log matching or routing, nor count as overlaps.
    Column("warninglist", String(200)),
    Index("ix_observable_value", "value"),
    # Networks (CIDRs) only: single addresses are found by value. A lookup probes this index with
    # every network that could contain an address, so keeping it small keeps lookups fast.
    Index(
        "ix_observable_network",
        "ip_lo",
        sqlite_where=text("ip_lo <> ip_hi"),
        postgresql_where=text("ip_lo <> ip_hi"),
    ),
    Index("ix_observable_object", "object_pk"),
)

network_prefix = Table(
    "network_prefix",
    metadata,
    # Every prefix length (in the 128-bit key space; IPv4 /24 is 120) that some stored network has:
    # a lookup probes an address's networks at these lengths only, not at all 129.
    Column("prefix", Integer, primary_key=True, autoincrement=False),
)

overlap = Table(
    "overlap",
    metadata,
    # One row per newly stored value that meets a value already known from another object: equal,
    # inside a known network, a subdomain of a known domain, or a URL on a known host. The other
    # objects are found (through the policy) when read, so storage grows with values, not pairs.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("object_pk", BigInteger, ForeignKey("stix_object.pk", ondelete="CASCADE"), nullable=False),
    Column("value", String(2048), nullable=False),  # the new object's value
    Column("match", String(16), nullable=False),  # equal, cidr, subdomain, url-host, email-domain
    Column("known_value", String(2048), nullable=False),  # the value already stored
    Column("date_added_us", BigInteger, nullable=False),
    Index("ix_overlap_object", "object_pk"),
    Index("ix_overlap_added", "date_added_us", "id"),
    Index("ix_overlap_known", "known_value"),
)

# --- warninglists, feeds and jobs ----------------------------------------------------------------

warninglist = Table(
    "warninglist",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("type", String(16), nullable=False),
    Column("category", String(40), nullable=False),
    Column("description", Text, nullable=False),
    Column("kinds", String(200), nullable=False),  # comma-separated observable kinds it applies to
    Column("entries", Text, nullable=False),  # JSON list
    Column("enabled", Boolean, nullable=False),
    Column("loaded_us", BigInteger, nullable=False),
)

feed = Table(
    "feed",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", String(2048)),
    Column("path", String(2048)),
    Column("format", String(16), nullable=False),
    Column("options", Text, nullable=False),  # JSON: column map, share targets
    Column("tlp", String(16)),
    Column("user_id", Integer, ForeignKey("user_account.id"), nullable=False),  # imports as this user
    Column("org_id", Integer, ForeignKey("org.id"), nullable=False),  # for this organisation
    Column("every_seconds", Integer),  # None: only when run by hand
    Column("enabled", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("next_run_us", BigInteger),
    Column("last_run_us", BigInteger),
    Column("last_status", String(16)),
    Column("etag", String(400)),
    Column("last_modified", String(100)),
)

job = Table(
    "job",
    metadata,
    # Durable record of every import and feed run: what, who, state, progress, result. A worker
    # claims queued jobs; a running job whose heartbeat stops is requeued (the import is one
    # transaction, so a restart begins cleanly).
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # import, feed
    Column("feed_id", Integer, ForeignKey("feed.id", ondelete="CASCADE")),
    Column("what", String(2048), nullable=False),  # file name or URL
    Column("user_id", Integer, ForeignKey("user_account.id"), nullable=False),
    Column("org_id", Integer, ForeignKey("org.id"), nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, done, failed, interrupted
    Column("attempts", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("started_us", BigInteger),
    Column("finished_us", BigInteger),
    Column("heartbeat_us", BigInteger),
    Column("owner", String(200)),  # host:pid of the process running it
    Column("progress", BigInteger, nullable=False),  # bytes read
    Column("total", BigInteger),  # bytes expected
    Column("result", Text),  # JSON report: taken, skipped, refused
    Column("error", Text),
    Index("ix_job_status", "status", "created_us"),
    Index("ix_job_feed", "feed_id", "created_us"),
)

# --- TAXII and federation ------------------------------------------------------------------------

taxii_status = Table(
    "taxii_status",
    metadata,
    # The status resource of a TAXII POST: what was stored, what failed and why. Only the user (or
    # peer) that posted may read it.
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("user_account.id", ondelete="CASCADE")),
    Column("peer_id", Integer, ForeignKey("peer.id", ondelete="CASCADE")),
    Column("status", String(16), nullable=False),  # pending, complete
    Column("request_us", BigInteger, nullable=False),
    Column("total", Integer, nullable=False),
    Column("success", Integer, nullable=False),
    Column("failure", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: successes, failures (with messages), pendings
)

deletion = Table(
    "deletion",
    metadata,
    # An object deleted here (TAXII DELETE): kept so peers that received it delete it too. It carries
    # the audience of what was deleted, so only those who could see the object learn of the deletion.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("stix_id", String(300), nullable=False),
    Column("modified_us", BigInteger),  # None: every version
    Column("producer_org_id", Integer, ForeignKey("org.id"), nullable=False),
    Column("audience_id", Integer, ForeignKey("audience.id"), nullable=False),
    Column("deleted_us", BigInteger, nullable=False),
    Index("ix_deletion_deleted", "deleted_us", "id"),
)

peer = Table(
    "peer",
    metadata,
    # Another node of the federation (or any TAXII 2.1 server). What we pull from it and push to it;
    # the organisations it hosts are `org` rows with `node` = this peer's name.
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),  # its TAXII API root
    Column("token", Text),  # what we present to it (it must be usable, so it is kept, not hashed)
    Column("push", Boolean, nullable=False),  # we also send it what its organisations may see
    Column("community", Boolean, nullable=False),  # it receives TLP:GREEN and CLEAR
    Column("in_token_prefix", String(16), unique=True),  # the node token it presents to us
    Column("in_token_hash", LargeBinary(32)),
    Column("user_id", Integer, ForeignKey("user_account.id"), nullable=False),  # its system user
    Column("org_id", Integer, ForeignKey("org.id"), nullable=False),  # the node's own organisation
    Column("enabled", Boolean, nullable=False),
    Column("every_seconds", Integer),
    Column("created_us", BigInteger, nullable=False),
    Column("next_run_us", BigInteger),
    Column("last_sync_us", BigInteger),
    Column("last_status", String(16)),
    Column("last_error", Text),
    Column("state", Text, nullable=False),  # JSON: per remote collection, the last date_added pulled
    Column("pulled", BigInteger, nullable=False),
    Column("pushed", BigInteger, nullable=False),
)

# --- audit ---------------------------------------------------------------------------------------

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(400), nullable=False),  # "user:<email>", "cli", "system"
    Column("source", String(200), nullable=False),  # client address, "cli", ...
    Column("action", String(100), nullable=False),
    Column("target", String(400), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
)

# --- routing: contact points, rules, the notification outbox (accord/routing) --------------------

contact_point = Table(
    "contact_point",
    metadata,
    # Who can act on abused infrastructure: a national CERT/CSIRT, a law-enforcement 24/7 contact
    # point (Budapest Convention Art. 35) or a network abuse desk, with what it covers
    # (`contact_scope`) and how it wants to hear (channel, format, language, PGP key).
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # csirt, law-enforcement, abuse
    # The member organisation it speaks for: what it receives is what that organisation may see.
    # None: a contact outside the alliance (it receives TLP:CLEAR only).
    Column("org_id", Integer, ForeignKey("org.id", ondelete="CASCADE")),
    Column("curated", Boolean, nullable=False),  # entered by the operator; wins over automatic ones
    Column("channel", String(16), nullable=False),  # email, webhook, taxii
    Column("format", String(8), nullable=False),  # xarf, csv, stix
    Column("email", String(320)),
    Column("url", String(2048)),  # webhook URL or TAXII collection URL
    Column("languages", String(200), nullable=False),  # comma-separated, most preferred first
    Column("hours", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),  # IANA name
    Column("phone", String(64)),
    Column("pgp_key", Text),  # ASCII-armoured public key, checked to parse
    Column("pgp_fingerprint", String(64)),
    Column("enabled", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_contact_point_org", "org_id"),
)

contact_scope = Table(
    "contact_scope",
    metadata,
    # A contact's constituency, one key a row: a country (ISO alpha-2), an AS number, a network
    # (CIDR, normalised) or a domain suffix. Compiled into memory for routing.
    Column("contact_id", Integer, ForeignKey("contact_point.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),  # country, asn, cidr, domain
    Column("value", String(300), primary_key=True),
)

routing_rule = Table(
    "routing_rule",
    metadata,
    # Who receives what. `match` (JSON) narrows the values (countries, asns, types, kinds, tlp,
    # min_severity, min_confidence); `send_to` (JSON) names recipients (contact kinds, contact names,
    # sectors). An organisation's rules reach only its own contacts; operator rules (org_id None)
    # reach anyone. Whatever a rule says, the policy decides what each recipient may receive.
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("org_id", Integer, ForeignKey("org.id", ondelete="CASCADE")),
    Column("enabled", Boolean, nullable=False),
    Column("match", Text, nullable=False),
    Column("send_to", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

routing_cursor = Table(
    "routing_cursor",
    metadata,
    # How far routing has come: the last stix_object pk routed. Advanced in the same transaction as
    # the rows routing wrote, so a crash loses nothing and routes nothing twice.
    Column("name", String(40), primary_key=True),
    Column("last_pk", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

abuse_count = Table(
    "abuse_count",
    metadata,
    # The country view's data: how many distinct IP/domain/URL values routing saw per day, country,
    # AS, kind and audience (not warninglisted, not RED, not revoked). Read through the policy: a
    # viewer sums only the audiences `policy.visible` lets it read (values' objects are never
    # relationships, so the audience alone decides). Counts are of reports: a value reported again
    # on another day (or in another routing batch) counts again, and deleting an object later does
    # not lower them.
    Column("day", Integer, primary_key=True),  # days since 1970-01-01 (UTC) of the objects' date_added
    Column("country", String(2), primary_key=True),  # "": unknown
    Column("asn", BigInteger, primary_key=True),  # 0: unknown
    Column("kind", String(8), primary_key=True),  # ipv4, ipv6, domain, url
    Column("audience_id", Integer, ForeignKey("audience.id"), primary_key=True),
    Column("operator", String(200)),
    Column("value_count", Integer, nullable=False),
    Index("ix_abuse_count_country", "country", "day"),
)

abuse_count_pending = Table(
    "abuse_count_pending",
    metadata,
    # abuse_count's rows as each routing batch appends them, not yet added to the row of their key:
    # PostgreSQL's upsert costs about 15 µs a row where an append costs a few, and a batch brings
    # thousands of keys. A key may have a row per batch here; readers sum both tables, and
    # `accord.routing.service.fold_counts` moves the rows of past days into abuse_count (the end
    # of each routing run does). No foreign key to audience, whose check costs as much again as
    # the append: the ids are read from stix_object rows, which have one, and audiences are
    # never deleted.
    Column("day", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("asn", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("audience_id", Integer, nullable=False),
    Column("operator", String(200)),
    Column("value_count", Integer, nullable=False),
    Index("ix_abuse_count_pending_day", "day", "country"),  # the fold takes days; readers days and a country
)

notification = Table(
    "notification",
    metadata,
    # The outbox: one row per recipient and interval (and `seq`, should a row have left the queue
    # before its interval's last values came), holding the values as JSON entries. See
    # accord/routing/outbox.py for the row shape; delivery claims `queued` rows whose next_attempt
    # has come.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("recipient", String(400), nullable=False),  # contact:<id>, abuse:<e-mail> or digest:<id>
    Column("interval_us", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("contact_id", Integer, ForeignKey("contact_point.id", ondelete="SET NULL")),
    Column("org_id", Integer, ForeignKey("org.id", ondelete="SET NULL")),  # whose view gated it
    Column("name", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("address", String(2048), nullable=False),
    Column("countries", String(1000), nullable=False),  # ",PL,DE,": the countries of its values
    # JSON list of [value, kind, country, asn, object_pk, rule], one per value
    Column("entries", Text, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # queued, sending, sent, failed, cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("sent_us", BigInteger),
    Column("ticket", String(100)),
    Column("last_error", Text),
    UniqueConstraint("recipient", "interval_us", "seq", name="uq_notification_dedupe"),
    Index("ix_notification_due", "status", "next_attempt_us"),
    Index("ix_notification_interval", "interval_us"),
)

digest_subscription = Table(
    "digest_subscription",
    metadata,
    # A daily digest per country (accord/routing/digest.py): the country view of each past UTC day,
    # as the contact point's organisation may see it, queued once per (subscription, day) into the
    # outbox as recipient `digest:<id>`, interval the day, seq 0 (the dedupe key is the idempotency
    # key). `last_day` is the last day queued, so the worker looks only at days after it.
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contact_point.id", ondelete="CASCADE"), nullable=False),
    Column("country", String(2), nullable=False),  # ISO 3166-1 alpha-2
    Column("created_us", BigInteger, nullable=False),
    Column("created_by", String(400), nullable=False),  # who subscribed it (the audit actor)
    Column("last_day", Integer),  # days since 1970-01-01 (UTC); None: none queued yet
    UniqueConstraint("contact_id", "country", name="uq_digest_subscription_contact"),
)

notification_object = Table(
    "notification_object",
    metadata,
    # The TAXII channel's deliveries: the objects notified to a contact point whose channel is
    # `taxii`, by STIX id (so a newer version of a notified object stays in view). Its members read
    # them in the contact's own collection (accord.taxii.collections, kind `notified`), always ANDed
    # with the policy's clause for the reader.
    Column("contact_id", Integer, ForeignKey("contact_point.id", ondelete="CASCADE"), primary_key=True),
    Column("stix_id", String(300), primary_key=True),
    Column("notification_id", BigInteger, nullable=False),  # the first notification that carried it
    Column("added_us", BigInteger, nullable=False),
)
