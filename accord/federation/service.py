"""Peers: adding, listing, node tokens, status, and syncing (pull, deletions, push).

A peer is another Accord node or any TAXII 2.1 server, added by the operator. Adding one creates
its system user (no password: it never logs in), its node organisation (name = node = the peer's
name) and the remote organisations it hosts ("<peer>/<org>"), and prints the node token the peer
presents to us.

A sync, one peer at a time, every step bounded by `client.Limits`:
- pull: each readable collection (an Accord peer's `community` collection alone: everything it
  lets us see is there), every version (`match[version]=all`), with `added_after` = the newest
  date_added stored from it. Each page is stored (`receive.store_received`) and the collection's
  cursor advanced in ONE transaction, so a crash loses nothing and repeats nothing; the `next` of
  the last stored page is kept too, so a run that died mid-collection resumes where it stopped
  (a `next` the server no longer knows is replaced by re-reading from the newest date_added,
  that instant included: what is here already is unchanged). The next page is fetched while
  the current one is stored;
- deletions (Accord peers): `x-accord/deletions/` since its own cursor; each one deletes our copy
  through `Accord.delete_object` acting for the same producer, if that copy came through this
  peer (a peer takes back what it gave, nothing else; never our own organisations' objects).
  Deleting is idempotent, so the cursor is advanced after the page is applied;
- push (`--push`): what the policy lets the peer's viewer see, every version, added since the
  push cursor (date_added, pk), minus what the peer itself sent us, POSTed with
  `x_accord_provenance`; the cursor moves once the peer accepted the page.
Each cursor update is conditional on the peer's state being what this run last wrote, so two
syncs of one peer at once cannot both store a page: the second stops. A failure (unreachable,
timeout, redirect, garbage, too large) ends that peer's sync with the error on its row; the page
in flight is not stored, and other peers are synced as usual.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import Connection, and_, insert, or_, select, update

from accord import audit
from accord.app import Accord
from accord.db import new_id
from accord.db.schema import org, peer, stix_object, user
from accord.errors import AccordError, Conflict, Forbidden, InvalidInput, NotFound
from accord.federation.client import Limits, Page, PeerError, TaxiiClient
from accord.federation.provenance import own_name, provenance
from accord.federation.receive import (
    NODE_NAME,
    ReceiveResult,
    Refusal,
    check_received,
    load_peer,
    store_received,
)
from accord.feeds.fetch import vet_url
from accord.feeds.service import MIN_INTERVAL_SECONDS
from accord.intel.prepare import Prepared, gc_paused
from accord.intel.query import Renderer
from accord.intel.timestamps import format_micros, now_micros, parse_micros
from accord.members.auth import new_token_secret, peer_viewer
from accord.members.model import OPERATOR, Permission, Role, Sector, Viewer
from accord.members.service import normalise_country
from accord.settings import Settings
from accord.workers import exit_with_parent

MAX_REFUSALS_KEPT = 20
STALE_NEXT = (400, 404, 410)  # how servers answer a `next` they no longer know


def _is_community(collection: dict[str, Any]) -> bool:
    """An Accord node's `community` collection (everything the caller may see)."""
    return "community" in (str(collection.get("alias", "")).lower(), str(collection.get("title", "")).lower())


def peer_url(url: str) -> str:
    """The API root URL, checked (http or https, a host, no user:password@) and ending in '/'."""
    parsed = vet_url(url)
    if parsed.query or parsed.fragment:
        raise InvalidInput("a peer's URL is its TAXII API root, without ?query or #fragment", field="url")
    text = str(parsed)
    return text if text.endswith("/") else text + "/"


# --- peers ------------------------------------------------------------------------------------------


def _peer_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(peer).where(peer.c.name == name)).first()
    if row is None:
        raise NotFound(f"no peer named {name!r}")
    return row


def _insert_org(conn: Connection, name: str, node: str, country: str) -> int:
    return new_id(
        conn.execute(
            insert(org).values(
                name=name,
                sector=Sector.INTERNATIONAL.value,
                country=country,
                vetted=True,
                created_us=now_micros(),
                node=node,
            )
        )
    )


def add(
    app: Accord,
    name: str,
    *,
    url: str,
    token: str | None = None,
    push: bool = False,
    community: bool = False,
    orgs: list[str] | tuple[str, ...] = (),
    every_seconds: int | None = None,
    for_org: str | None = None,
    country: str = "",
    actor: Viewer = OPERATOR,
) -> tuple[dict[str, Any], str]:
    """Add a peer; returns it as listed and the node token it must present to us (shown once)."""
    if not actor.can_administer_platform:
        raise Forbidden("only the operator or a platform administrator may add a peer")
    name = name.strip()
    if not NODE_NAME.fullmatch(name):
        raise InvalidInput(
            "a peer's name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="name",
        )
    if name == app.settings.node_name:
        raise InvalidInput(f"{name!r} is this node's own name (ACCORD_NODE_NAME)", field="name")
    root = peer_url(url)
    if every_seconds is not None and every_seconds < MIN_INTERVAL_SECONDS:
        raise InvalidInput(f"a peer is synced at most every {MIN_INTERVAL_SECONDS} s", field="every")
    hosted: list[str] = []
    for o in orgs:
        o = o.strip()
        if not o or len(o) > 99 or not o.isprintable():
            raise InvalidInput(f"not a usable organisation name: {o!r}", field="orgs")
        if o not in hosted:
            hosted.append(o)
    cc = normalise_country(country) if country else ""
    in_token, prefix, digest = new_token_secret()
    now = now_micros()
    with app.db.write() as conn:
        if conn.execute(select(peer.c.id).where(peer.c.name == name)).first():
            raise Conflict(f"a peer named {name!r} exists already", field="name")
        for org_name in [name] + [f"{name}/{o}" for o in hosted]:
            if conn.execute(select(org.c.id).where(org.c.name == org_name)).first():
                raise Conflict(f"an organisation named {org_name!r} exists already", field="name")
        email = f"peer:{name}"
        if conn.execute(select(user.c.id).where(user.c.email == email)).first():
            raise Conflict(f"a user {email!r} exists already", field="name")
        for_id = None
        if for_org is not None:
            found = conn.execute(select(org.c.id, org.c.node).where(org.c.name == for_org)).first()
            if found is None or found.node is not None:
                raise InvalidInput(f"--for must name an organisation hosted here: {for_org!r}", field="for")
            for_id = int(found.id)
        user_id = new_id(
            conn.execute(
                insert(user).values(
                    email=email,
                    name=f"peer node {name}",
                    language="en",
                    password_hash=None,  # a system user: it never logs in, it presents its node token
                    platform_admin=False,
                    disabled=False,
                    created_us=now,
                )
            )
        )
        org_id = _insert_org(conn, name, name, cc)
        for o in hosted:
            _insert_org(conn, f"{name}/{o}", name, cc)
        conn.execute(
            insert(peer).values(
                name=name,
                url=root,
                token=token or None,
                push=push,
                community=community,
                in_token_prefix=prefix,
                in_token_hash=digest,
                user_id=user_id,
                org_id=org_id,
                enabled=True,
                every_seconds=every_seconds,
                created_us=now,
                next_run_us=now if every_seconds else None,
                state=orjson.dumps({"for": for_id}).decode(),
                pulled=0,
                pushed=0,
            )
        )
        audit.record(
            conn,
            app.audit_key,
            actor=actor.actor(),
            source=actor.source,
            action="peer.add",
            target=f"peer:{name}",
            detail={
                "url": root, "push": push, "community": community, "orgs": hosted,
                "every_seconds": every_seconds, "for": for_org, "token_prefix": prefix,
            },
        )  # fmt: skip
        return _describe(conn, _peer_row(conn, name)), in_token


def new_token(app: Accord, name: str, actor: Viewer = OPERATOR) -> str:
    """A new node token for the peer to present to us; the previous one stops working."""
    if not actor.can_administer_platform:
        raise Forbidden("only the operator or a platform administrator may make a peer's token")
    in_token, prefix, digest = new_token_secret()
    with app.db.write() as conn:
        row = _peer_row(conn, name)
        conn.execute(
            update(peer).where(peer.c.id == row.id).values(in_token_prefix=prefix, in_token_hash=digest)
        )
        audit.record(
            conn, app.audit_key, actor=actor.actor(), source=actor.source, action="peer.token",
            target=f"peer:{name}", detail={"token_prefix": prefix},
        )  # fmt: skip
    return in_token


def set_token(app: Accord, name: str, token: str | None, actor: Viewer = OPERATOR) -> None:
    """Set (None: clear) the token we present to the peer. Two nodes that both pull from each
    other need it: each prints its node token only once the other node is added, so the first
    node added learns the token it must present afterwards."""
    if not actor.can_administer_platform:
        raise Forbidden("only the operator or a platform administrator may set a peer's token")
    with app.db.write() as conn:
        row = _peer_row(conn, name)
        conn.execute(update(peer).where(peer.c.id == row.id).values(token=token or None))
        audit.record(
            conn, app.audit_key, actor=actor.actor(), source=actor.source, action="peer.set",
            target=f"peer:{name}", detail={"token": "set" if token else "cleared"},
        )  # fmt: skip


def _describe(conn: Connection, row: Any) -> dict[str, Any]:
    state = orjson.loads(row.state) if row.state else {}
    hosted = sorted(
        own_name(n, row.name)
        for n in conn.execute(
            select(org.c.name).where(org.c.node == row.name, org.c.id != row.org_id)
        ).scalars()
    )
    for_name = None
    if state.get("for"):
        for_name = conn.execute(select(org.c.name).where(org.c.id == state["for"])).scalar()
    lasts = [c["last"] for c in state.get("pull", {}).values() if c.get("last") is not None]
    newest = max(lasts) if lasts else None
    return {
        "name": row.name,
        "url": row.url,
        "push": bool(row.push),
        "community": bool(row.community),
        "enabled": bool(row.enabled),
        "every_seconds": row.every_seconds,
        "for": for_name,
        "orgs": hosted,
        "next_run": format_micros(row.next_run_us) if row.next_run_us else None,
        "last_sync": format_micros(row.last_sync_us) if row.last_sync_us else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "pulled": int(row.pulled),
        "pushed": int(row.pushed),
        "refused": int(state.get("refused", 0)),
        "refusals": state.get("refusals", []),
        "newest_pulled": format_micros(newest) if newest is not None else None,
        "lag_seconds": round((now_micros() - newest) / 1e6, 1) if newest is not None else None,
    }


def list_peers(app: Accord) -> list[dict[str, Any]]:
    """Every peer with its status: last sync, error, lag (now - newest date_added pulled), counts."""
    with app.db.read() as conn:
        return [_describe(conn, r) for r in conn.execute(select(peer).order_by(peer.c.name))]


# --- syncing ----------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    peer: str
    status: str = "ok"
    error: str | None = None
    collections: list[str] = field(default_factory=list)
    pages: int = 0
    stored: int = 0
    unchanged: int = 0
    refused: int = 0
    deleted: int = 0
    pushed: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v or k in ("peer", "status", "stored")}
        return out


@dataclass
class CheckedPage:
    """A page of a collection, its objects checked (`check_received`); the raw items dropped."""

    page: Page
    items: list[Any]  # Prepared or Refusal, or, from the reader process, Prepared as plain tuples

    @property
    def checked(self) -> list[Prepared | Refusal]:
        return [c if isinstance(c, Refusal | Prepared) else Prepared._make(c) for c in self.items]


_READER_CONTEXT = mp.get_context("forkserver" if os.name == "posix" else "spawn")
_reader_client: TaxiiClient | None = None  # the page reader process's own connection to the peer


def read_page(
    url: str, token: str | None, limits: Limits, collection_id: str, after: int | None,
    next_token: str | None, limit: int,
) -> CheckedPage:  # fmt: skip
    """In the page reader process: fetch one page and check its objects (no database here)."""
    global _reader_client
    if _reader_client is None:
        _reader_client = TaxiiClient(url, token, limits)
    with gc_paused():
        page = _reader_client.objects(collection_id, added_after_us=after, next_token=next_token, limit=limit)
        # Plain tuples cross the pipe: unpickling NamedTuples runs Python code per object (in the
        # process that stores, which is the busier one); `CheckedPage.checked` makes them again.
        plain = [tuple(c) if isinstance(c, Prepared) else c for c in check_received(page.items)]
        return CheckedPage(replace(page, items=[]), plain)


class _Run:
    """One sync of one peer."""

    def __init__(self, app: Accord, row: Any, client: TaxiiClient, limits: Limits) -> None:
        self.app, self.client, self.limits = app, client, limits
        self.url, self.token = str(row.url), row.token
        self.peer_id, self.name, self.user_id = int(row.id), str(row.name), int(row.user_id)
        self.state_text: str = row.state
        self.state: dict[str, Any] = orjson.loads(row.state) if row.state else {}
        self.report = SyncReport(self.name)

    def commit(self, conn: Connection, state: dict[str, Any], *, pulled: int = 0, pushed: int = 0) -> None:
        """Write the new state, unless another run changed it since this one last wrote (then stop:
        the caller's transaction, with the page it stored, rolls back)."""
        text = orjson.dumps(state).decode()
        done = conn.execute(
            update(peer)
            .where(peer.c.id == self.peer_id, peer.c.state == self.state_text)
            .values(state=text, pulled=peer.c.pulled + pulled, pushed=peer.c.pushed + pushed)
        ).rowcount
        if done != 1:
            raise PeerError("another sync of this peer ran at the same time; this one stopped")
        self.state, self.state_text = state, text

    def _refusals(self, state: dict[str, Any], failures: list[tuple[str, str]], count: int) -> None:
        if not count:
            return
        state["refused"] = int(state.get("refused", 0)) + count
        fresh = [[i, r] for i, r in failures]
        state["refusals"] = (fresh + list(state.get("refusals", [])))[:MAX_REFUSALS_KEPT]

    def _audit(self, conn: Connection, action: str, detail: dict[str, Any]) -> None:
        audit.record(
            conn, self.app.audit_key, actor=f"peer:{self.name}", source=f"peer:{self.name}",
            action=action, target=f"peer:{self.name}", detail=detail,
        )  # fmt: skip

    # --- pull ---------------------------------------------------------------------------------------

    def pull(self) -> None:
        readable = [c for c in self.client.collections() if c.get("can_read") is True]
        chosen = [c for c in readable if _is_community(c)][:1] or readable
        self.report.collections = [c["id"] for c in chosen]
        benign = self.app.benign()
        for collection in chosen:
            self._pull_collection(collection["id"], benign)

    def _pull_collection(self, collection_id: str, benign: Any) -> None:
        """Page through one collection. The next page is fetched while this one is stored (the
        network and the database overlap); it is used only once this one is committed."""
        cursor = dict(self.state.get("pull", {}).get(collection_id, {}))
        last: int | None = cursor.get("last")
        token: str | None = cursor.get("next")
        start: int | None = cursor.get("start") if token is not None else last
        limit = self.limits.page_size

        def fetch(after: int | None, next_token: str | None) -> Page:
            return self.client.objects(
                collection_id, added_after_us=after, next_token=next_token, limit=limit
            )

        try:
            page = fetch(start, token)
        except PeerError as exc:
            if token is None or exc.http_status not in STALE_NEXT:
                raise
            # The saved `next` is gone (medallion keeps it 30 s in memory): read again from the
            # newest date_added stored, that instant included (what is here already is unchanged).
            start, token = (last - 1 if last is not None else None), None
            self.report.notes.append(f"{collection_id}: saved page token expired; re-read")
            page = fetch(start, token)
        current = CheckedPage(page, check_received(page.items))
        empty = 0
        # Pages after the first are read (fetched, parsed, checked: the CPU half) in a reader
        # process while this one stores the page before: the two halves run on two cores.
        reader: ProcessPoolExecutor | None = None
        try:
            while True:
                page = current.page
                newest = page.last_us if last is None else max(last, page.last_us or last)
                more_token = page.next if page.more else None
                fresh = (
                    {"last": newest, "start": start, "next": more_token} if more_token else {"last": newest}
                )
                following: Future[CheckedPage] | None = None
                stop: PeerError | None = None  # raised once this page is stored
                if page.more:
                    empty = empty + 1 if not current.items else 0
                    if more_token is not None:
                        token = more_token
                    elif page.last_us is not None and page.last_us != start:
                        start, token = page.last_us, None  # 'more' without 'next': go on after this page
                    else:
                        stop = PeerError(
                            f"collection {collection_id}: the peer says there is more but gives neither "
                            "'next' nor a later X-TAXII-Date-Added-Last"
                        )
                    if empty > 3:
                        stop = PeerError(
                            f"collection {collection_id}: the peer says 'more' and sends nothing"
                        )
                    if stop is None:
                        if reader is None:
                            reader = ProcessPoolExecutor(
                                max_workers=1,
                                mp_context=_READER_CONTEXT,
                                initializer=exit_with_parent,
                                initargs=(os.getpid(),),
                            )
                        following = reader.submit(
                            read_page, self.url, self.token, self.limits, collection_id, start, token, limit
                        )
                self._store_page(collection_id, current, fresh, benign)
                if stop is not None:
                    raise stop
                last = newest
                if following is None:
                    return
                try:
                    current = following.result()
                except BrokenProcessPool:
                    raise PeerError(f"collection {collection_id}: the page reader process died") from None
        finally:
            if reader is not None:
                reader.shutdown(wait=True, cancel_futures=True)

    def _store_page(
        self, collection_id: str, current: CheckedPage, fresh: dict[str, Any], benign: Any
    ) -> None:
        """Store one page and advance the collection's cursor to `fresh`, in one transaction."""
        with gc_paused(), self.app.db.write() as conn:
            info = load_peer(conn, self.peer_id)
            result = store_received(
                self.app, conn, info, current.checked, current.page.provenance, benign=benign
            )
            state = {**self.state, "pull": {**self.state.get("pull", {}), collection_id: fresh}}
            self._refusals(state, result.failures, result.failed)
            self.commit(conn, state, pulled=result.stored)
            if result.stored or result.failed or result.orgs_created:
                self._audit(conn, "peer.pull", {"collection": collection_id, **result.as_dict()})
        self._count(result)

    def _count(self, result: ReceiveResult) -> None:
        self.report.pages += 1
        self.report.stored += result.stored
        self.report.unchanged += result.unchanged
        self.report.refused += result.failed

    # --- deletions ----------------------------------------------------------------------------------

    def deletions(self) -> None:
        delete = getattr(self.app, "delete_object", None)
        if delete is None:
            self.report.notes.append("deletions not applied: this node has no Accord.delete_object yet")
            return
        cursor = dict(self.state.get("deletions") or {})
        last: int | None = cursor.get("last")
        token: str | None = cursor.get("next")
        start: int | None = cursor.get("start") if token is not None else last
        resumed = token is not None
        while True:
            try:
                page = self.client.deletions(
                    added_after_us=start, next_token=token, limit=self.limits.page_size
                )
            except PeerError as exc:
                if resumed and exc.http_status in STALE_NEXT:
                    resumed, token, start = False, None, (last - 1 if last is not None else None)
                    continue
                raise
            resumed = False
            if page is None:  # not an Accord node: it publishes no deletions
                return
            listed = [self._deletion(d) for d in page.deletions]  # all checked before any is applied
            deleted = 0
            for item in self._ours_to_delete([x for x in listed if x is not None]):
                deleted += self._apply(delete, *item)
            newest = page.last_us if last is None else max(last, page.last_us or last)
            more_token = page.next if page.more else None
            fresh = {"last": newest, "start": start, "next": more_token} if more_token else {"last": newest}
            with self.app.db.write() as conn:
                self.commit(conn, {**self.state, "deletions": fresh})
                if deleted:
                    self._audit(conn, "peer.deletions", {"deleted": deleted, "listed": len(listed)})
            self.report.deleted += deleted
            last = newest
            if not page.more or not page.deletions:
                return
            if more_token is not None:
                token = more_token
            elif page.last_us is not None and page.last_us != start:
                start, token = page.last_us, None
            else:
                raise PeerError("x-accord/deletions: 'more' without 'next' or a later date")

    def _deletion(self, d: dict[str, Any]) -> tuple[str, str, str, int | None] | None:
        """(stix id, producer node, producer, version) of one listed deletion, checked; None for
        this node's own organisations' objects (a peer never deletes those)."""
        stix_id, producer, node = d.get("id"), d.get("producer"), d.get("producer_node")
        version = d.get("version")
        if not isinstance(stix_id, str) or "--" not in stix_id or len(stix_id) > 300:
            raise PeerError(f"x-accord/deletions: not an object id: {stix_id!r}"[:300])
        if not isinstance(producer, str) or not isinstance(node, str) or not producer or not node:
            raise PeerError(f"x-accord/deletions: {stix_id} names no producer and producer_node")
        modified_us = None
        if version is not None:
            try:
                modified_us = parse_micros(version) if isinstance(version, str) else None
            except ValueError:
                modified_us = None
            if modified_us is None:
                raise PeerError(f"x-accord/deletions: {stix_id} has a version that is not a timestamp")
        if node == self.app.settings.node_name:
            return None
        return stix_id, node, producer, modified_us

    def _ours_to_delete(
        self, listed: list[tuple[str, str, str, int | None]]
    ) -> list[tuple[str, int, int | None]]:
        """(stix id, local producer org, version) of the listed deletions that touch copies this
        peer sent us: a peer can take back what came through it, nothing else."""
        out = []
        orgs: dict[tuple[str, str], int | None] = {}
        with self.app.db.read() as conn:
            for stix_id, node, producer, modified_us in listed:
                if (node, producer) not in orgs:
                    orgs[(node, producer)] = conn.execute(
                        select(org.c.id).where(org.c.name == f"{node}/{producer}", org.c.node == node)
                    ).scalar()
                org_id = orgs[(node, producer)]
                if org_id is None:
                    continue  # a producer we never heard of: we hold nothing of it
                held = select(stix_object.c.pk).where(
                    stix_object.c.stix_id == stix_id,
                    stix_object.c.producer_org_id == org_id,
                    stix_object.c.submitter_user_id == self.user_id,
                )
                if modified_us is not None:
                    held = held.where(stix_object.c.modified_us == modified_us)
                if conn.execute(held.limit(1)).first() is not None:
                    out.append((stix_id, int(org_id), modified_us))
        return out

    def _apply(self, delete: Any, stix_id: str, org_id: int, modified_us: int | None) -> int:
        viewer = Viewer(
            user_id=self.user_id,
            email=f"peer:{self.name}",
            org_id=org_id,
            org_vetted=True,
            role=Role.ANALYST,
            scopes=frozenset({Permission.INTEL_READ, Permission.INTEL_WRITE}),
            source=f"peer:{self.name}",
        )
        try:
            return int(delete(viewer, stix_id, modified_us))
        except (NotFound, Forbidden):
            return 0  # gone already, or not that producer's here

    # --- push ---------------------------------------------------------------------------------------

    def push(self) -> None:
        cursor = dict(self.state.get("push") or {})
        target = cursor.get("collection") or self._push_target()
        after_added, after_pk = cursor.get("after") or (0, 0)
        limit = self.limits.push_page
        while True:
            with self.app.db.read() as conn:
                viewer = peer_viewer(conn, self.peer_id)
                sent_by_peer = select(org.c.id).where(org.c.node == self.name)
                rows = conn.execute(
                    select(stix_object)
                    .where(
                        self.app.policy.visible(viewer),
                        stix_object.c.submitter_user_id != self.user_id,
                        stix_object.c.producer_org_id.not_in(sent_by_peer),
                        or_(
                            stix_object.c.date_added_us > after_added,
                            and_(stix_object.c.date_added_us == after_added, stix_object.c.pk > after_pk),
                        ),
                    )
                    .order_by(stix_object.c.date_added_us, stix_object.c.pk)
                    .limit(limit)
                ).all()
                if not rows:
                    return
                objects = Renderer(conn, self.app.policy, viewer).objects(rows)
                origins = provenance(conn, self.app.settings.node_name, viewer, rows)
            body, n = self._envelope(objects, origins)
            failures: list[tuple[str, str]] = []
            accepted = 0
            if n == 0:  # one object larger than a POST may be: skipped, said so
                failures.append((objects[0].get("id", "?"), "larger than the push limit; not sent"))
                n = 1
            else:
                status = self.client.post_objects(target, body)
                accepted = int(status.get("success_count", 0)) + int(status.get("pending_count", 0) or 0)
                for f in status.get("failures") or []:
                    if isinstance(f, dict):
                        failures.append((str(f.get("id", "?")), str(f.get("message", "refused"))[:300]))
            last = rows[n - 1]
            after_added, after_pk = int(last.date_added_us), int(last.pk)
            with self.app.db.write() as conn:
                state = {**self.state, "push": {"collection": target, "after": [after_added, after_pk]}}
                self._refusals(state, [(i, f"pushed: {r}") for i, r in failures], len(failures))
                self.commit(conn, state, pushed=accepted)
                self._audit(conn, "peer.push", {"collection": target, "sent": n, "accepted": accepted})
            self.report.pushed += accepted
            self.report.refused += len(failures)
            if len(rows) < limit and n == len(rows):
                return

    def _push_target(self) -> str:
        writable = [c for c in self.client.collections() if c.get("can_write") is True]
        chosen = [c for c in writable if _is_community(c)][:1] or writable[:1]
        if not chosen:
            raise PeerError("the peer offers no collection we may write to; nothing can be pushed")
        return str(chosen[0]["id"])

    def _envelope(self, objects: list[dict[str, Any]], origins: list[dict[str, Any]]) -> tuple[bytes, int]:
        """The POST body for as many of `objects` (from the first) as fit the size limit, and how many."""
        n = len(objects)
        while n:
            body = orjson.dumps({"objects": objects[:n], "x_accord_provenance": origins[:n]})
            if len(body) <= self.limits.max_post_bytes:
                return body, n
            n //= 2
        return b"", 0


def limits_from(settings: Settings) -> Limits:
    """What one peer may cost this node, as the operator set it (ACCORD_PEER_*)."""
    return Limits(
        page_size=settings.peer_page_size,
        max_response_bytes=settings.peer_max_response_bytes,
        timeout=float(settings.peer_timeout_seconds),
        total_timeout=float(settings.peer_total_timeout_seconds),
        push_page=settings.peer_push_objects,
        max_post_bytes=settings.peer_max_post_bytes,
    )


def sync(app: Accord, name: str, *, limits: Limits | None = None) -> SyncReport:
    """Sync one peer now: pull, deletions, push. Never raises for the peer's failures: they are in
    the report and on the peer's row (`accord peer status`)."""
    limits = limits or limits_from(app.settings)
    with app.db.read() as conn:
        row = _peer_row(conn, name)
    if not row.enabled:
        raise InvalidInput(f"peer {name!r} is disabled")
    started = now_micros()
    report = SyncReport(name)
    status: str = "failed"
    error: str | None = "interrupted"  # what the row says if this run is cut short
    try:
        with TaxiiClient(row.url, row.token, limits) as client:
            run = _Run(app, row, client, limits)
            report = run.report
            run.pull()
            run.deletions()
            if row.push:
                run.push()
        status, error = "ok", None
    except AccordError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or a database failure: recorded, and the other peers go on
        error = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        report.status, report.error = status, error
        with app.db.write() as conn:
            conn.execute(
                update(peer)
                .where(peer.c.id == row.id)
                .values(last_sync_us=started, last_status=status, last_error=error[:2000] if error else None)
            )
    return report


def sync_all(app: Accord, *, limits: Limits | None = None) -> list[SyncReport]:
    """Sync every enabled peer, one after the other; one peer's failure does not stop the others."""
    with app.db.read() as conn:
        names = list(conn.execute(select(peer.c.name).where(peer.c.enabled).order_by(peer.c.name)).scalars())
    return [sync(app, n, limits=limits) for n in names]


def sync_due(app: Accord, *, limits: Limits | None = None) -> list[SyncReport]:
    """Sync the peers whose time has come (`--every`); each is claimed with a conditional update,
    so two workers never sync the same peer for the same turn."""
    now = now_micros()
    claimed: list[str] = []
    with app.db.write() as conn:
        due = conn.execute(
            select(peer.c.id, peer.c.name, peer.c.every_seconds, peer.c.next_run_us).where(
                peer.c.enabled, peer.c.every_seconds.is_not(None), peer.c.next_run_us <= now
            )
        ).all()
        for r in due:
            done = conn.execute(
                update(peer)
                .where(peer.c.id == r.id, peer.c.next_run_us == r.next_run_us)
                .values(next_run_us=now + r.every_seconds * 1_000_000)
            ).rowcount
            if done:
                claimed.append(r.name)
    return [sync(app, n, limits=limits) for n in sorted(claimed)]
