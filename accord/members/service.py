"""Membership: organisations, users, sharing groups and tokens, with who may change what.

Authorisation rules for administration live here (reading intelligence is the policy's business):
- the operator (console) and platform administrators manage organisations, vetting and users;
- an org-admin manages the users, roles and tokens of their own organisation only, and may reset
  a password only for a user all of whose organisations they administer (MISP's org-admin overreach);
- a sharing group is edited only by its owner organisation's org-admins and analysts.
Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import Connection, delete, insert, or_, select, update

from accord import audit
from accord.db import new_id
from accord.db.schema import api_token, group_member, membership, org, sharing_group, user
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.intel.timestamps import now_micros
from accord.members.auth import NewToken, hash_password, new_token_secret
from accord.members.model import ALL_SCOPES, Permission, Role, Sector, Viewer, parse_collections, parse_scopes

LANGUAGES = ("en", "fr", "es", "ar", "zh", "ru", "pt")  # the seven the UI ships catalogues for


def is_language(code: str) -> bool:
    """A language tag CLDR knows ("de", "pt-BR", "zh-Hans"): a user may prefer any of them; the UI
    shows the nearest catalogue it has, so a new catalogue needs no change here."""
    try:
        Locale.parse(code.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return False
    return True


_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def _iso_countries() -> frozenset[str]:
    # ISO 3166-1 alpha-2 codes currently assigned (plus XK, widely used for Kosovo).
    codes = (
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS "
        "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE "
        "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
        "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC "
        "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
        "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
        "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
        "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"
    )
    return frozenset(codes.split())


COUNTRIES = _iso_countries()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput(f"not a valid e-mail address: {email!r}", field="email")
    return email


def normalise_country(code: str) -> str:
    cc = code.strip().upper()
    if cc not in COUNTRIES:
        raise InvalidInput(f"not an ISO 3166-1 alpha-2 country code: {code!r}", field="country")
    return cc


@dataclass(frozen=True)
class Members:
    audit_key: bytes

    # --- helpers ----------------------------------------------------------------------------------

    def _audit(self, conn: Connection, actor: Viewer, action: str, target: str, **detail: Any) -> None:
        audit.record(
            conn,
            self.audit_key,
            actor=actor.actor(),
            source=actor.source,
            action=action,
            target=target,
            detail=detail,
        )

    @staticmethod
    def _require_platform(actor: Viewer) -> None:
        if not actor.can_administer_platform:
            raise Forbidden("only platform administrators may do this")

    @staticmethod
    def _administers(actor: Viewer, org_id: int) -> bool:
        return actor.can_administer_platform or (
            actor.org_id == org_id and actor.can(Permission.MEMBERS_ADMIN)
        )

    def org_id(self, conn: Connection, name_or_id: str | int) -> int:
        query = select(org.c.id)
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            query = query.where(or_(org.c.id == int(name_or_id), org.c.name == str(name_or_id)))
        else:
            query = query.where(org.c.name == name_or_id)
        found = conn.execute(query).scalar()
        if found is None:
            raise NotFound(f"no organisation {name_or_id!r}")
        return int(found)

    def user_id(self, conn: Connection, email_or_id: str | int) -> int:
        if isinstance(email_or_id, int):
            query = select(user.c.id).where(user.c.id == email_or_id)
        else:
            query = select(user.c.id).where(user.c.email == email_or_id.strip().lower())
        found = conn.execute(query).scalar()
        if found is None:
            raise NotFound(f"no user {email_or_id!r}")
        return int(found)

    def group_id(self, conn: Connection, name_or_id: str | int) -> int:
        query = select(sharing_group.c.id)
        if isinstance(name_or_id, int):
            query = query.where(sharing_group.c.id == name_or_id)
        else:
            query = query.where(sharing_group.c.name == name_or_id)
        found = conn.execute(query).scalar()
        if found is None:
            raise NotFound(f"no sharing group {name_or_id!r}")
        return int(found)

    # --- organisations ----------------------------------------------------------------------------

    def add_org(
        self, conn: Connection, actor: Viewer, name: str, sector: str, country: str, pending: bool = False
    ) -> int:
        self._require_platform(actor)
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("an organisation needs a name of 1 to 200 characters", field="name")
        try:
            sector_value = Sector(sector).value
        except ValueError:
            allowed = ", ".join(s.value for s in Sector)
            raise InvalidInput(f"unknown sector {sector!r} (allowed: {allowed})", field="sector") from None
        cc = normalise_country(country)
        if conn.execute(select(org.c.id).where(org.c.name == name)).first():
            raise Conflict(f"an organisation named {name!r} exists already", field="name")
        org_id = new_id(
            conn.execute(
                insert(org).values(
                    name=name, sector=sector_value, country=cc, vetted=not pending, created_us=now_micros()
                )
            )
        )
        self._audit(
            conn, actor, "org.add", f"org:{name}", sector=sector_value, country=cc, vetted=not pending
        )
        return int(org_id)

    def set_vetted(self, conn: Connection, actor: Viewer, org_id: int, vetted: bool) -> None:
        self._require_platform(actor)
        self.get_org(conn, org_id)
        conn.execute(update(org).where(org.c.id == org_id).values(vetted=vetted))
        self._audit(conn, actor, "org.vet" if vetted else "org.unvet", f"org:{org_id}")

    def get_org(self, conn: Connection, org_id: int) -> dict[str, Any]:
        row = conn.execute(select(org).where(org.c.id == org_id)).first()
        if row is None:
            raise NotFound(f"no organisation {org_id}")
        return _org_dict(row)

    def list_orgs(self, conn: Connection) -> list[dict[str, Any]]:
        """The alliance's member directory: every authenticated member may read it."""
        return [_org_dict(r) for r in conn.execute(select(org).order_by(org.c.name))]

    # --- users ------------------------------------------------------------------------------------

    def add_user(
        self,
        conn: Connection,
        actor: Viewer,
        email: str,
        org_id: int,
        role: str,
        *,
        name: str = "",
        language: str = "en",
        platform_admin: bool = False,
        password: str | None = None,
        password_hash: str | None = None,
    ) -> int:
        """Create a user in an organisation, or add an existing user to another organisation.

        `password_hash` takes an argon2 hash made once for many accounts (bulk creation, the demo):
        hashing costs a tenth of a second or more each time.
        """
        if not self._administers(actor, org_id):
            raise Forbidden("only the organisation's admins or platform administrators may add its users")
        if platform_admin and not actor.can_administer_platform:
            raise Forbidden("only platform administrators may make platform administrators")
        email = normalise_email(email)
        role_value = _role(role)
        if not is_language(language):
            raise InvalidInput(
                f"not a language tag: {language!r} (for example {', '.join(LANGUAGES)})", field="language"
            )
        self.get_org(conn, org_id)
        existing = conn.execute(select(user.c.id).where(user.c.email == email)).scalar()
        if existing is not None:
            if conn.execute(
                select(membership).where(membership.c.user_id == existing, membership.c.org_id == org_id)
            ).first():
                raise Conflict(f"{email} is already a member of this organisation", field="email")
            if password is not None or password_hash is not None or platform_admin:
                raise Conflict(f"user {email} exists; add the membership without password or admin flag")
            user_id = int(existing)
        else:
            pw_hash = password_hash
            if password is not None:
                try:
                    pw_hash = hash_password(password)
                except ValueError as exc:
                    raise InvalidInput(str(exc), field="password") from None
            user_id = new_id(
                conn.execute(
                    insert(user).values(
                        email=email,
                        name=name.strip() or email.split("@")[0],
                        language=language,
                        password_hash=pw_hash,
                        platform_admin=platform_admin,
                        disabled=False,
                        created_us=now_micros(),
                    )
                )
            )
        conn.execute(insert(membership).values(user_id=user_id, org_id=org_id, role=role_value))
        self._audit(
            conn,
            actor,
            "user.add",
            f"user:{email}",
            org_id=org_id,
            role=role_value,
            platform_admin=platform_admin,
        )
        return user_id

    def _user_orgs(self, conn: Connection, user_id: int) -> list[int]:
        return list(
            conn.execute(select(membership.c.org_id).where(membership.c.user_id == user_id)).scalars()
        )

    def set_password(self, conn: Connection, actor: Viewer, user_id: int, password: str) -> None:
        orgs = self._user_orgs(conn, user_id)
        is_self = actor.user_id == user_id
        if not (
            is_self
            or actor.can_administer_platform
            or (orgs and all(self._administers(actor, o) for o in orgs))
        ):
            # Hide users the actor has no business with; admins of one of their orgs learn only "no".
            if not any(self._administers(actor, o) for o in orgs):
                raise NotFound(f"no user {user_id}")
            raise Forbidden("this user also belongs to organisations you do not administer")
        try:
            pw_hash = hash_password(password)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="password") from None
        conn.execute(update(user).where(user.c.id == user_id).values(password_hash=pw_hash))
        self._audit(conn, actor, "user.password", f"user:{user_id}")

    def set_role(self, conn: Connection, actor: Viewer, user_id: int, org_id: int, role: str) -> None:
        if not self._administers(actor, org_id):
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        role_value = _role(role)
        done = conn.execute(
            update(membership)
            .where(membership.c.user_id == user_id, membership.c.org_id == org_id)
            .values(role=role_value)
        )
        if done.rowcount == 0:
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        self._audit(conn, actor, "user.role", f"user:{user_id}", org_id=org_id, role=role_value)

    def remove_member(self, conn: Connection, actor: Viewer, user_id: int, org_id: int) -> None:
        if not self._administers(actor, org_id):
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        done = conn.execute(
            delete(membership).where(membership.c.user_id == user_id, membership.c.org_id == org_id)
        )
        if done.rowcount == 0:
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        self._audit(conn, actor, "user.remove", f"user:{user_id}", org_id=org_id)

    def set_disabled(self, conn: Connection, actor: Viewer, user_id: int, disabled: bool) -> None:
        self._require_platform(actor)
        done = conn.execute(update(user).where(user.c.id == user_id).values(disabled=disabled))
        if done.rowcount == 0:
            raise NotFound(f"no user {user_id}")
        self._audit(conn, actor, "user.disable" if disabled else "user.enable", f"user:{user_id}")

    def list_users(self, conn: Connection, actor: Viewer) -> list[dict[str, Any]]:
        """Platform admins see everyone; others see the members of their acting organisation."""
        query = (
            select(
                user.c.id,
                user.c.email,
                user.c.name,
                user.c.language,
                user.c.platform_admin,
                user.c.disabled,
                membership.c.org_id,
                membership.c.role,
            )
            .join(membership, membership.c.user_id == user.c.id)
            .order_by(user.c.email, membership.c.org_id)
        )
        if not actor.can_administer_platform:
            if actor.org_id is None:
                return []
            query = query.where(membership.c.org_id == actor.org_id)
        users: dict[int, dict[str, Any]] = {}
        for r in conn.execute(query):
            entry = users.setdefault(
                r.id,
                {
                    "id": r.id,
                    "email": r.email,
                    "name": r.name,
                    "language": r.language,
                    "platform_admin": r.platform_admin,
                    "disabled": r.disabled,
                    "memberships": [],
                },
            )
            entry["memberships"].append({"org_id": r.org_id, "role": r.role})
        return list(users.values())

    def memberships(self, conn: Connection, user_id: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(membership.c.org_id, membership.c.role, org.c.name, org.c.vetted)
            .join(org, org.c.id == membership.c.org_id)
            .where(membership.c.user_id == user_id)
            .order_by(membership.c.org_id)
        )
        return [{"org_id": r.org_id, "org": r.name, "role": r.role, "vetted": r.vetted} for r in rows]

    # --- sharing groups ---------------------------------------------------------------------------

    def _may_edit_group(self, actor: Viewer, owner_org_id: int) -> bool:
        return actor.operator or (
            actor.org_id == owner_org_id
            and (actor.can(Permission.MEMBERS_ADMIN) or actor.can(Permission.INTEL_WRITE))
        )

    def add_group(
        self, conn: Connection, actor: Viewer, name: str, owner_org_id: int, member_org_ids: list[int]
    ) -> int:
        if not self._may_edit_group(actor, owner_org_id):
            raise Forbidden("a sharing group is created by its owner organisation's admins and analysts")
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a sharing group needs a name of 1 to 200 characters", field="name")
        if conn.execute(select(sharing_group.c.id).where(sharing_group.c.name == name)).first():
            raise Conflict(f"a sharing group named {name!r} exists already", field="name")
        for o in member_org_ids:
            self.get_org(conn, o)
        group_id = new_id(
            conn.execute(
                insert(sharing_group).values(name=name, owner_org_id=owner_org_id, created_us=now_micros())
            )
        )
        if member_org_ids:
            conn.execute(
                insert(group_member),
                [{"group_id": group_id, "org_id": o} for o in sorted(set(member_org_ids))],
            )
        self._audit(
            conn,
            actor,
            "group.add",
            f"group:{name}",
            owner_org_id=owner_org_id,
            members=sorted(set(member_org_ids)),
        )
        return group_id

    def _visible_group(self, conn: Connection, actor: Viewer, group_id: int) -> Any:
        """A group exists for its owner's and its members' users (and the operator): else 404."""
        row = conn.execute(select(sharing_group).where(sharing_group.c.id == group_id)).first()
        if row is None:
            raise NotFound(f"no sharing group {group_id}")
        if actor.operator or actor.can_administer_platform or row.owner_org_id == actor.org_id:
            return row
        member = conn.execute(
            select(group_member).where(
                group_member.c.group_id == group_id, group_member.c.org_id == actor.org_id
            )
        ).first()
        if member is None:
            raise NotFound(f"no sharing group {group_id}")
        return row

    def set_group_members(
        self, conn: Connection, actor: Viewer, group_id: int, member_org_ids: list[int]
    ) -> None:
        row = self._visible_group(conn, actor, group_id)
        if not self._may_edit_group(actor, row.owner_org_id):
            raise Forbidden("only the owner organisation may edit this sharing group")
        for o in member_org_ids:
            self.get_org(conn, o)
        conn.execute(delete(group_member).where(group_member.c.group_id == group_id))
        if member_org_ids:
            conn.execute(
                insert(group_member),
                [{"group_id": group_id, "org_id": o} for o in sorted(set(member_org_ids))],
            )
        self._audit(conn, actor, "group.members", f"group:{row.name}", members=sorted(set(member_org_ids)))

    def get_group(self, conn: Connection, actor: Viewer, group_id: int) -> dict[str, Any]:
        row = self._visible_group(conn, actor, group_id)
        members = sorted(
            conn.execute(select(group_member.c.org_id).where(group_member.c.group_id == group_id)).scalars()
        )
        return {"id": row.id, "name": row.name, "owner_org_id": row.owner_org_id, "member_org_ids": members}

    def list_groups(self, conn: Connection, actor: Viewer) -> list[dict[str, Any]]:
        query = select(sharing_group.c.id).order_by(sharing_group.c.name)
        if not (actor.operator or actor.can_administer_platform):
            mine = select(group_member.c.group_id).where(group_member.c.org_id == actor.org_id)
            query = query.where(
                or_(sharing_group.c.owner_org_id == actor.org_id, sharing_group.c.id.in_(mine))
            )
        return [self.get_group(conn, actor, gid) for gid in conn.execute(query).scalars()]

    def groups_of(self, conn: Connection, org_id: int) -> set[int]:
        return set(
            conn.execute(select(group_member.c.group_id).where(group_member.c.org_id == org_id)).scalars()
        )

    # --- tokens -----------------------------------------------------------------------------------

    def create_token(
        self,
        conn: Connection,
        actor: Viewer,
        user_id: int,
        org_id: int | None = None,
        *,
        label: str = "",
        scopes: str | None = None,
        expires_days: float | None = None,
        collections: str | None = None,
    ) -> NewToken:
        """A new token for `user_id` acting for `org_id`; the secret is returned once, stored hashed."""
        is_self = actor.user_id == user_id
        if org_id is None and not actor.operator and not is_self:
            org_id = actor.org_id
        # Authorise before looking anything up, so outsiders learn nothing about other orgs' users.
        if not (
            actor.operator or is_self or (actor.org_id == org_id and actor.can(Permission.MEMBERS_ADMIN))
        ):
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        memberships = {m["org_id"]: m for m in self.memberships(conn, user_id)}
        if org_id is None and memberships:
            org_id = min(memberships)
        if org_id not in memberships:
            raise NotFound(f"no user {user_id} in organisation {org_id}")
        try:
            wanted = parse_scopes(scopes) if scopes else ALL_SCOPES
        except ValueError as exc:
            raise InvalidInput(str(exc), field="scopes") from None
        try:
            limited = parse_collections(collections)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="collections") from None
        if not actor.operator:
            wanted &= actor.scopes  # a token never grants more than the token that made it
            limited = _narrower_collections(limited, actor.collections)
        if expires_days is not None and expires_days < 0:
            raise InvalidInput("expiry must be a positive number of days (0: never)", field="expires")
        now = now_micros()
        expires = now + int(expires_days * 86_400_000_000) if expires_days else None
        token, prefix, digest = new_token_secret()
        token_id = new_id(
            conn.execute(
                insert(api_token).values(
                    prefix=prefix,
                    secret_hash=digest,
                    user_id=user_id,
                    org_id=org_id,
                    label=label[:200],
                    scopes=",".join(sorted(s.value for s in wanted)),
                    collections=",".join(f"{c}:{m}" for c, m in limited) if limited is not None else None,
                    created_us=now,
                    expires_us=expires,
                )
            )
        )
        self._audit(
            conn,
            actor,
            "token.create",
            f"token:{prefix}",
            user_id=user_id,
            org_id=org_id,
            scopes=sorted(s.value for s in wanted),
            collections=[f"{c}:{m}" for c, m in limited] if limited is not None else None,
            expires_us=expires,
        )
        return NewToken(token_id, token)

    def _token_scope(self, actor: Viewer) -> Any:
        if actor.operator:
            return None
        if actor.can(Permission.MEMBERS_ADMIN):
            return or_(api_token.c.user_id == actor.user_id, api_token.c.org_id == actor.org_id)
        return api_token.c.user_id == actor.user_id

    def list_tokens(self, conn: Connection, actor: Viewer) -> list[dict[str, Any]]:
        query = (
            select(api_token, user.c.email)
            .join(user, user.c.id == api_token.c.user_id)
            .order_by(api_token.c.id)
        )
        scope = self._token_scope(actor)
        if scope is not None:
            query = query.where(scope)
        return [
            {
                "id": r.id,
                "prefix": r.prefix,
                "user": r.email,
                "org_id": r.org_id,
                "label": r.label,
                "scopes": r.scopes.split(",") if r.scopes else [],
                "collections": r.collections.split(",") if r.collections else None,
                "created_us": r.created_us,
                "expires_us": r.expires_us,
                "revoked_us": r.revoked_us,
                "last_used_us": r.last_used_us,
            }
            for r in conn.execute(query)
        ]

    def revoke_token(self, conn: Connection, actor: Viewer, token_id: int) -> None:
        query = select(api_token).where(api_token.c.id == token_id)
        scope = self._token_scope(actor)
        if scope is not None:
            query = query.where(scope)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no token {token_id}")
        conn.execute(update(api_token).where(api_token.c.id == token_id).values(revoked_us=now_micros()))
        self._audit(conn, actor, "token.revoke", f"token:{row.prefix}")


def _narrower_collections(
    wanted: tuple[tuple[str, str], ...] | None, maker: tuple[tuple[str, str], ...] | None
) -> tuple[tuple[str, str], ...] | None:
    """The collection limits of a new token, never wider than those of the token that made it."""
    if maker is None:
        return wanted
    if wanted is None:
        return maker
    allowed = dict(maker)
    out = []
    for cid, mode in wanted:
        if cid not in allowed:
            raise Forbidden(f"this token may not use collection {cid}, so it cannot give that to another")
        out.append((cid, "rw" if mode == "rw" and allowed[cid] == "rw" else "r"))
    return tuple(out)


def _role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r} (allowed: {allowed})", field="role") from None


def _org_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "sector": row.sector,
        "country": row.country,
        "vetted": bool(row.vetted),
        "created_us": row.created_us,
    }
