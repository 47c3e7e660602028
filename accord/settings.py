"""One declarative table of settings: name, default, help. Read from the environment, validated at start.

Every setting is `ACCORD_<NAME>` in the environment; the CLI may override some by option. The table is
the documentation: `accord settings` prints it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "", "SQLAlchemy URL: sqlite:///PATH (default <data_dir>/accord.sqlite3) or postgresql+psycopg://…"
    )
    data_dir: str = _setting("data", "Directory for the embedded SQLite database and other local state.")
    public_feed: bool = _setting(False, "If true, anonymous readers may read TLP:CLEAR intelligence only.")
    max_body_bytes: int = _setting(256 * 1024 * 1024, "Largest API request body in bytes; larger gets 413.")
    login_max_failures: int = _setting(10, "Failed log-ins allowed per account and per address per window.")
    login_window_seconds: int = _setting(900, "The window in which failed log-ins are counted.")
    token_default_days: int = _setting(90, "Lifetime of a new API token in days unless asked (0: none).")
    page_size_default: int = _setting(100, "Objects per page when a list request names no limit.")
    page_size_max: int = _setting(10000, "Largest page a list request may ask for.")
    overlap_expand_max: int = _setting(
        50, "Values held by more objects than this are summarised (counts), not listed, in overlaps."
    )
    score_half_life_days: int = _setting(90, "An indicator's score halves with every this many days of age.")
    feed_allow_networks: str = _setting(
        "", "Comma-separated CIDRs feeds may be fetched from although private/loopback (default: none)."
    )
    feed_max_bytes: int = _setting(4 * 1024**3, "Largest feed download in bytes.")
    feed_timeout_seconds: int = _setting(120, "Network timeout of a feed download, in seconds.")
    worker_poll_seconds: int = _setting(10, "How often the worker looks for due feeds and queued jobs.")
    node_name: str = _setting(
        "accord", "This node's name in the federation: its TAXII title and how peers name it."
    )
    node_country: str = _setting("", "ISO 3166 alpha-2 country of this node (empty: international).")
    peer_page_size: int = _setting(5000, "Objects asked of a peer per TAXII page when syncing.")
    peer_max_response_bytes: int = _setting(
        64 * 1024 * 1024, "Largest answer accepted from a peer, in bytes; larger fails that sync."
    )
    peer_timeout_seconds: int = _setting(60, "A peer's connect and per-read timeout, in seconds.")
    peer_total_timeout_seconds: int = _setting(600, "Longest one request to a peer may take, in seconds.")
    peer_push_objects: int = _setting(500, "Objects per POST when pushing to a peer.")
    peer_max_post_bytes: int = _setting(16 * 1024 * 1024, "Largest POST body sent to a peer, in bytes.")
    audit_key: str = _setting(
        "", "Audit-log MAC key in hex (default: <data_dir>/audit.key, made at first use)."
    )
    notify_interval_seconds: int = _setting(
        3600, "Routed values are batched per recipient over intervals this long, then delivered."
    )
    smtp_host: str = _setting("", "SMTP server notifications are mailed through (empty: e-mail waits).")
    smtp_port: int = _setting(25, "Its port (STARTTLS is used when offered; implicit TLS is not).")
    smtp_user: str = _setting("", "SMTP user name (empty: no AUTH); never sent without TLS.")
    smtp_password: str = _setting("", "SMTP password for ACCORD_SMTP_USER.")
    smtp_starttls: str = _setting(
        "auto", "auto: STARTTLS when the server offers it; required: refuse to mail without; off: never."
    )
    smtp_ca_file: str = _setting("", "PEM file of CAs trusted for STARTTLS (default: the system's).")
    smtp_from: str = _setting("accord@localhost", "Sender address of notifications (and X-ARF contact).")
    smtp_timeout_seconds: int = _setting(30, "Network timeout of one SMTP conversation step, in seconds.")
    webhook_secret: str = _setting(
        "", "Key (hex) webhook contacts' signing secrets are derived from (default <data_dir>/webhook.key)."
    )
    webhook_timeout_seconds: int = _setting(30, "Network timeout of a webhook delivery, in seconds.")
    delivery_max_attempts: int = _setting(8, "Attempts per notification before it is marked failed.")
    delivery_backoff_seconds: int = _setting(
        60, "Wait before the first retry; doubled after every failed attempt."
    )
    delivery_backoff_max_seconds: int = _setting(21600, "Longest wait between two attempts.")
    delivery_claim_seconds: int = _setting(
        600, "A notification claimed for sending longer ago than this is sent again (its worker died)."
    )
    digest_catch_up_days: int = _setting(
        7, "Daily digests missed while the worker was stopped are queued for at most this many days back."
    )

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{Path(self.data_dir) / 'accord.sqlite3'}")
        for name in (
            "max_body_bytes",
            "login_max_failures",
            "login_window_seconds",
            "page_size_max",
            "overlap_expand_max",
            "score_half_life_days",
            "feed_max_bytes",
            "feed_timeout_seconds",
            "worker_poll_seconds",
            "peer_page_size",
            "peer_max_response_bytes",
            "peer_timeout_seconds",
            "peer_total_timeout_seconds",
            "peer_push_objects",
            "peer_max_post_bytes",
            "notify_interval_seconds",
            "smtp_port",
            "smtp_timeout_seconds",
            "webhook_timeout_seconds",
            "delivery_max_attempts",
            "delivery_backoff_seconds",
            "delivery_backoff_max_seconds",
            "delivery_claim_seconds",
            "digest_catch_up_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"setting ACCORD_{name.upper()} must be positive")
        if self.smtp_starttls not in ("auto", "required", "off"):
            raise ValueError(
                f"ACCORD_SMTP_STARTTLS must be auto, required or off, not {self.smtp_starttls!r}"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Environment first, then explicit overrides (CLI options) that are not None."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get("ACCORD_" + f.name.upper())
            if raw is None:
                continue
            if isinstance(f.default, bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(f.default, int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"ACCORD_{f.name.upper()} must be a whole number, not {raw!r}") from None
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting."""
    return [("ACCORD_" + f.name.upper(), repr(f.default), f.metadata["help"]) for f in fields(Settings)]
