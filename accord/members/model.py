"""Who is asking: sectors, roles, permissions as typed data, and the Viewer every service takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Sector(StrEnum):
    GOVERNMENT = "government"
    LAW_ENFORCEMENT = "law-enforcement"
    BUSINESS = "business"
    CSIRT = "csirt"
    INTERNATIONAL = "international"


class Role(StrEnum):
    ORG_ADMIN = "org-admin"
    ANALYST = "analyst"
    READER = "reader"


class Permission(StrEnum):
    """What a request may do. A token's scopes narrow its user's role; they never widen it."""

    INTEL_READ = "intel:read"
    INTEL_WRITE = "intel:write"
    MEMBERS_ADMIN = "members:admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.INTEL_READ}),
    Role.ANALYST: frozenset({Permission.INTEL_READ, Permission.INTEL_WRITE}),
    Role.ORG_ADMIN: frozenset(Permission),
}

ALL_SCOPES = frozenset(Permission)


def parse_collections(text: str | None) -> tuple[tuple[str, str], ...] | None:
    """ "id:r,id2:rw" -> (("id", "r"), ("id2", "rw")); None or "" -> None (no limit)."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        cid, sep, mode = part.strip().rpartition(":")
        if not sep or not cid or mode not in ("r", "rw"):
            raise ValueError(f"not a collection scope: {part.strip()!r} (want COLLECTION:r or COLLECTION:rw)")
        out.append((cid, mode))
    return tuple(out)


def parse_scopes(text: str) -> frozenset[Permission]:
    try:
        return frozenset(Permission(s.strip()) for s in text.split(",") if s.strip())
    except ValueError:
        allowed = ", ".join(p.value for p in Permission)
        raise ValueError(f"unknown scope in {text!r} (allowed: {allowed})") from None


@dataclass(frozen=True)
class Viewer:
    """A user acting for one organisation, or the operator at the console, or nobody.

    The acting organisation matters: TLP:AMBER is need-to-know within an organisation, so a user in
    two organisations sees each one's AMBER only while acting for it.
    """

    user_id: int | None
    email: str
    org_id: int | None
    org_vetted: bool
    role: Role | None
    platform_admin: bool = False
    scopes: frozenset[Permission] = field(default_factory=lambda: ALL_SCOPES)
    operator: bool = False  # the person with shell access to the node: manages, never reads intel
    source: str = ""  # where the request came from (client address, "cli"), for the audit log
    # A token limited to some TAXII collections: ((collection id, "r" or "rw"), ...); None: no limit.
    collections: tuple[tuple[str, str], ...] | None = None
    # A peer node: its system user acting for the node's organisation, representing every
    # organisation the node hosts (`org.node`). It reads what those organisations may read, never
    # TLP:RED (users audiences), and GREEN/CLEAR only when it is a community peer.
    peer_id: int | None = None
    represents: frozenset[int] = frozenset()
    community: bool = False
    # A notification's recipient (accord.routing): an organisation as a whole, or a contact outside
    # the alliance (org_id None), never a user. It reads what its organisation may read (so never
    # TLP:RED, which names users); an outside contact, like an organisation pending vetting, TLP:CLEAR.
    recipient: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and not self.operator and not self.recipient

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.role is None:
            return frozenset()
        return ROLE_PERMISSIONS[self.role] & self.scopes

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def can_administer_platform(self) -> bool:
        return self.operator or (self.platform_admin and Permission.MEMBERS_ADMIN in self.scopes)

    @property
    def is_peer(self) -> bool:
        return self.peer_id is not None

    def may_use_collection(self, collection_id: str, write: bool = False) -> bool:
        """Whether this token's collection limits (if any) allow reading, or writing, there."""
        if self.collections is None:
            return True
        return any(c == collection_id and (not write or mode == "rw") for c, mode in self.collections)

    def label(self) -> str:
        return "operator" if self.operator else (self.email or "anonymous")

    def actor(self) -> str:
        """How the audit log names this viewer."""
        return "operator" if self.operator else (f"user:{self.email}" if self.email else "anonymous")


ANONYMOUS = Viewer(user_id=None, email="", org_id=None, org_vetted=False, role=None, scopes=frozenset())
OPERATOR = Viewer(
    user_id=None, email="", org_id=None, org_vetted=False, role=None, operator=True, source="cli"
)
