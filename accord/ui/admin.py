"""Administration pages: the members, sharing groups and tokens of the organisation the viewer acts
for (its org-admins), and the alliance's organisations and users (platform administrators).

Every read and change goes through `accord.members.service` with the viewer, and the service
authorises it (another organisation's users, tokens and groups are 404 there, as in the API):
these handlers never re-check by hand. They decide only which pages exist for whom, as the
navigation does: the organisation pages for viewers who may administer members, the platform
pages for platform administrators; for anyone else they are 404, like anything not theirs to see.

Each page answers HTML or JSON from one handler (`render.page`); each form posts back and is
answered with a redirect to the page (303) carrying a short notice, or with JSON for JSON clients.
A form the service refuses for its content (bad e-mail, name taken …) is shown again with the
reason and what was typed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from accord.app import Accord
from accord.errors import AccordError, Conflict, Forbidden, InvalidInput, NotFound
from accord.intel.timestamps import now_micros
from accord.members.model import Permission, Role, Sector, Viewer
from accord.members.service import COUNTRIES
from accord.taxii import collections
from accord.ui.i18n import N_
from accord.ui.render import page, redirect, request_language, ui_router, ui_state, url, wants_json
from accord.web.api import MEMBERS, AppDep, JSONBytes, MemberDep

router = ui_router()
ADMIN = "/ui/admin"

ROLE_LABELS = {
    Role.ORG_ADMIN.value: N_("Organisation administrator"),
    Role.ANALYST.value: N_("Analyst"),
    Role.READER.value: N_("Reader"),
}
SECTOR_LABELS = {
    Sector.GOVERNMENT.value: N_("Government"),
    Sector.LAW_ENFORCEMENT.value: N_("Law enforcement"),
    Sector.BUSINESS.value: N_("Business"),
    Sector.CSIRT.value: N_("CERT or CSIRT"),
    Sector.INTERNATIONAL.value: N_("International organisation"),
}
SCOPE_LABELS = {
    Permission.INTEL_READ.value: N_("Read intelligence"),
    Permission.INTEL_WRITE.value: N_("Write intelligence"),
    Permission.MEMBERS_ADMIN.value: N_("Administer members"),
}
COLLECTION_KINDS = {
    collections.COMMUNITY: N_("Everything the token's user may see"),
    collections.ORG: N_("Organisation"),
    collections.GROUP: N_("Sharing group"),
    collections.INBOX: N_("Inbox"),
}
# What a redirect after a change says on the page (`?done=`).
NOTICES = {
    "added": N_("The member was added."),
    "role": N_("The role was changed."),
    "removed": N_("The member was removed from the organisation."),
    "password": N_("The password was set."),
    "group": N_("The sharing group was saved."),
    "revoked": N_("The token was revoked."),
    "org": N_("The organisation was added."),
    "vetted": N_("The organisation is vetted."),
    "unvetted": N_("The organisation is no longer vetted."),
    "disabled": N_("The account is disabled."),
    "enabled": N_("The account is enabled."),
}
Text = Annotated[str, Form(max_length=200)]


# --- which pages exist for whom --------------------------------------------------------------------


def _acting_org(viewer: Viewer) -> int:
    """The organisation whose pages these are. Viewers who may not administer members see no such
    pages (404); what they may do on them is the members service's to decide."""
    if viewer.org_id is None or not (viewer.can(Permission.MEMBERS_ADMIN) or viewer.can_administer_platform):
        raise NotFound("no such page")
    return viewer.org_id


def _platform(viewer: Viewer) -> None:
    if not viewer.can_administer_platform:
        raise NotFound("no such page")


def _frame(request: Request, viewer: Viewer, here: str, error: str | None, **more: Any) -> dict[str, Any]:
    """What every administration page shows besides its data: its own navigation, a notice after
    a change, an error from a refused form."""
    links = [
        (ADMIN + "/members", N_("Members")),
        (ADMIN + "/groups", N_("Sharing groups")),
        (ADMIN + "/tokens", N_("Tokens")),
    ]
    if viewer.can_administer_platform:
        links += [(ADMIN + "/orgs", N_("Organisations")), (ADMIN + "/users", N_("Users"))]
    done = request.query_params.get("done", "")
    return {
        "admin_nav": [{"path": p, "label": label, "current": p == here} for p, label in links],
        "notice": NOTICES.get(done),
        "error": error,
        "role_labels": ROLE_LABELS,
        **more,
    }


def _done(request: Request, where: str, notice: str, data: dict[str, Any], status: int = 200) -> Response:
    """After a change: JSON clients get the result, browsers go back to the page (303)."""
    if wants_json(request):
        return JSONBytes(data, status_code=status)
    return redirect(url(where, done=notice))


def _refused(request: Request, exc: AccordError) -> str:
    """A form's refusal becomes a message on its page; JSON clients get the API's problem."""
    if wants_json(request):
        raise exc
    return str(exc)


def _org_names(app: Accord) -> dict[int, str]:
    with app.db.read() as conn:
        return {o["id"]: o["name"] for o in app.members.list_orgs(conn)}


# --- members ---------------------------------------------------------------------------------------


def _members(app: Accord, viewer: Viewer, org_id: int) -> list[dict[str, Any]]:
    """The members of one organisation with their role there (from the service's list of the
    users the viewer may administer)."""
    with app.db.read() as conn:
        users = app.members.list_users(conn, viewer)
    out = []
    for u in users:
        role = next((m["role"] for m in u["memberships"] if m["org_id"] == org_id), None)
        if role is not None:
            fields = ("id", "email", "name", "language", "platform_admin", "disabled")
            out.append({**{k: u[k] for k in fields}, "role": role})
    return out


def _members_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    org_id = _acting_org(viewer)
    with app.db.read() as conn:
        organisation = app.members.get_org(conn, org_id)
    data = {"org": organisation, "members": _members(app, viewer, org_id)}
    languages = ui_state(request).languages
    language = request_language(request)
    extra = _frame(
        request,
        viewer,
        ADMIN + "/members",
        error,
        form=form or {"email": "", "name": "", "role": Role.ANALYST.value, "language": ""},
        languages=[(languages.stored_code(lang), lang) for lang in languages],
        default_language=languages.stored_code(language),
    )
    return page(request, "admin_members.html", data, extra=extra, status=status, section="admin")


@router.get("/admin/members", openapi_extra=MEMBERS)
def members(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """The members of the organisation the viewer acts for, with their roles."""
    return _members_page(request, app, viewer)


@router.post("/admin/members", openapi_extra=MEMBERS)
def add_member(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[str, Form(max_length=20)],
    name: Text = "",
    language: Annotated[str, Form(max_length=35)] = "en",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A new account in the organisation, or an existing one added to it (whose password, name
    and other memberships stay as they are: the service refuses a password for it)."""
    org_id = _acting_org(viewer)
    try:
        with app.db.write() as conn:
            user_id = app.members.add_user(
                conn, viewer, email, org_id, role, name=name, language=language, password=password or None
            )
    except (InvalidInput, Conflict) as exc:
        form = {"email": email, "name": name, "role": role, "language": language}
        return _members_page(request, app, viewer, _refused(request, exc), form, exc.status)
    return _done(request, ADMIN + "/members", "added", {"id": user_id}, 201)


@router.post("/admin/members/{user_id}/role", openapi_extra=MEMBERS)
def change_role(
    request: Request,
    user_id: int,
    viewer: MemberDep,
    app: AppDep,
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    org_id = _acting_org(viewer)
    try:
        with app.db.write() as conn:
            app.members.set_role(conn, viewer, user_id, org_id, role)
    except InvalidInput as exc:
        return _members_page(request, app, viewer, _refused(request, exc), status=exc.status)
    demoted_self = user_id == viewer.user_id and role != Role.ORG_ADMIN.value  # no page to go back to
    where = "/ui/" if demoted_self else ADMIN + "/members"
    return _done(request, where, "role", {"id": user_id, "org_id": org_id, "role": role})


@router.post("/admin/members/{user_id}/remove", openapi_extra=MEMBERS)
def remove_member(request: Request, user_id: int, viewer: MemberDep, app: AppDep) -> Response:
    """The membership only: the account and its other memberships stay."""
    org_id = _acting_org(viewer)
    with app.db.write() as conn:
        app.members.remove_member(conn, viewer, user_id, org_id)
    where = "/ui/" if user_id == viewer.user_id else ADMIN + "/members"
    return _done(request, where, "removed", {"id": user_id, "org_id": org_id})


@router.post("/admin/members/{user_id}/password", openapi_extra=MEMBERS)
def set_password(
    request: Request,
    user_id: int,
    viewer: MemberDep,
    app: AppDep,
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    """Only for a member all of whose organisations the viewer administers (the service's rule)."""
    _acting_org(viewer)
    try:
        with app.db.write() as conn:
            app.members.set_password(conn, viewer, user_id, password)
    except (InvalidInput, Forbidden) as exc:
        return _members_page(request, app, viewer, _refused(request, exc), status=exc.status)
    return _done(request, ADMIN + "/members", "password", {"id": user_id})


# --- sharing groups --------------------------------------------------------------------------------


def _groups_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    org_id = _acting_org(viewer)
    with app.db.read() as conn:
        groups = app.members.list_groups(conn, viewer)
        orgs = app.members.list_orgs(conn)
    extra = _frame(
        request,
        viewer,
        ADMIN + "/groups",
        error,
        orgs=orgs,
        org_names={o["id"]: o["name"] for o in orgs},
        org_id=org_id,
        form=form or {"name": "", "members": []},
    )
    return page(request, "admin_groups.html", {"groups": groups}, extra=extra, status=status, section="admin")


@router.get("/admin/groups", openapi_extra=MEMBERS)
def groups(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """The sharing groups the organisation owns or belongs to."""
    return _groups_page(request, app, viewer)


@router.post("/admin/groups", openapi_extra=MEMBERS)
def add_group(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    name: Text,
    member: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    """A new group owned by the organisation the viewer acts for."""
    org_id = _acting_org(viewer)
    try:
        with app.db.write() as conn:
            group_id = app.members.add_group(conn, viewer, name, org_id, member)
            group = app.members.get_group(conn, viewer, group_id)
    except (InvalidInput, Conflict) as exc:
        form = {"name": name, "members": member}
        return _groups_page(request, app, viewer, _refused(request, exc), form, exc.status)
    return _done(request, f"{ADMIN}/groups/{group_id}", "group", group, 201)


def _group_page(
    request: Request, app: Accord, viewer: Viewer, group_id: int, error: str | None = None, status: int = 200
) -> Response:
    org_id = _acting_org(viewer)
    with app.db.read() as conn:
        group = app.members.get_group(conn, viewer, group_id)  # 404 for groups not the viewer's
        orgs = app.members.list_orgs(conn)
    extra = _frame(
        request,
        viewer,
        ADMIN + "/groups",
        error,
        orgs=orgs,
        org_names={o["id"]: o["name"] for o in orgs},
        org_id=org_id,
    )
    return page(request, "admin_group.html", {"group": group}, extra=extra, status=status, section="admin")


@router.get("/admin/groups/{group_id}", openapi_extra=MEMBERS)
def group(request: Request, group_id: int, viewer: MemberDep, app: AppDep) -> Response:
    """One sharing group: its members, editable when the organisation owns it."""
    return _group_page(request, app, viewer, group_id)


@router.post("/admin/groups/{group_id}", openapi_extra=MEMBERS)
def set_group_members(
    request: Request,
    group_id: int,
    viewer: MemberDep,
    app: AppDep,
    member: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    _acting_org(viewer)
    try:
        with app.db.write() as conn:
            app.members.set_group_members(conn, viewer, group_id, member)
            group = app.members.get_group(conn, viewer, group_id)
    except InvalidInput as exc:
        return _group_page(request, app, viewer, group_id, _refused(request, exc), exc.status)
    return _done(request, f"{ADMIN}/groups/{group_id}", "group", group)


# --- tokens ----------------------------------------------------------------------------------------


def _token_state(token: dict[str, Any], now: int) -> str:
    if token["revoked_us"] is not None:
        return "revoked"
    if token["expires_us"] is not None and token["expires_us"] <= now:
        return "expired"
    return "active"


def _collection_choices(app: Accord, viewer: Viewer) -> list[dict[str, Any]]:
    """The TAXII collections a new token may be limited to: those the viewer may read."""
    with app.db.read() as conn:
        found = collections.readable(conn, app.settings.node_name, viewer)
    return [
        {
            "id": c.id,
            "kind": c.kind,
            "name": c.alias.partition("/")[2],
            "can_write": c.can_write,
        }
        for c in found
    ]


def _tokens_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    org_id = _acting_org(viewer)
    with app.db.read() as conn:
        tokens = app.members.list_tokens(conn, viewer)
    now = now_micros()
    for t in tokens:
        t["state"] = _token_state(t, now)
    tokens.reverse()  # newest first
    extra = _frame(
        request,
        viewer,
        ADMIN + "/tokens",
        error,
        members=_members(app, viewer, org_id),
        scope_labels=SCOPE_LABELS,
        collection_choices=_collection_choices(app, viewer),
        collection_kinds=COLLECTION_KINDS,
        org_names=_org_names(app),
        form=form
        or {
            "user_id": viewer.user_id,
            "label": "",
            "scopes": [Permission.INTEL_READ.value],
            "expires_days": app.settings.token_default_days,
            "collections": [],
        },
    )
    return page(request, "admin_tokens.html", {"tokens": tokens}, extra=extra, status=status, section="admin")


@router.get("/admin/tokens", openapi_extra=MEMBERS)
def tokens(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """The organisation's API tokens (and the viewer's own): who, what for, until when."""
    return _tokens_page(request, app, viewer)


@router.post("/admin/tokens", openapi_extra=MEMBERS)
def create_token(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    user_id: Annotated[int, Form()],
    label: Text = "",
    scope: Annotated[list[str], Form()] = [],  # noqa: B006
    expires_days: Annotated[int, Form(ge=0, le=3650)] = 0,
    collection: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """A new token for a member, acting for this organisation, with the scopes ticked and, if
    any are chosen, only the TAXII collections chosen. Its secret is shown on this answer only."""
    org_id = _acting_org(viewer)
    limits = ",".join(c for c in collection if c)
    try:
        if not scope:  # the service reads "no scopes" as "all": a form must say which
            raise InvalidInput("tick at least one scope", field="scope")
        with app.db.write() as conn:
            new = app.members.create_token(
                conn,
                viewer,
                user_id,
                org_id,
                label=label,
                scopes=",".join(scope),
                expires_days=expires_days,
                collections=limits or None,
            )
    except (InvalidInput, Forbidden) as exc:
        form = {
            "user_id": user_id,
            "label": label,
            "scopes": scope,
            "expires_days": expires_days,
            "collections": collection,
        }
        return _tokens_page(request, app, viewer, _refused(request, exc), form, exc.status)
    data = {"id": new.id, "token": new.token}
    extra = _frame(request, viewer, ADMIN + "/tokens", None, label=label)
    return page(request, "admin_token_created.html", data, extra=extra, status=201, section="admin")


@router.post("/admin/tokens/{token_id}/revoke", openapi_extra=MEMBERS)
def revoke_token(request: Request, token_id: int, viewer: MemberDep, app: AppDep) -> Response:
    _acting_org(viewer)
    with app.db.write() as conn:
        app.members.revoke_token(conn, viewer, token_id)
    return _done(request, ADMIN + "/tokens", "revoked", {"id": token_id})


# --- platform: organisations and users -------------------------------------------------------------


def _orgs_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    _platform(viewer)
    with app.db.read() as conn:
        orgs = app.members.list_orgs(conn)
    territories = request_language(request).locale.territories
    countries = sorted(((cc, str(territories.get(cc, cc))) for cc in COUNTRIES), key=lambda c: c[1])
    extra = _frame(
        request,
        viewer,
        ADMIN + "/orgs",
        error,
        sector_labels=SECTOR_LABELS,
        countries=countries,
        country_names=dict(countries),
        form=form or {"name": "", "sector": "", "country": "", "pending": False},
    )
    return page(request, "admin_orgs.html", {"orgs": orgs}, extra=extra, status=status, section="admin")


@router.get("/admin/orgs", openapi_extra=MEMBERS)
def orgs(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """Every organisation of the alliance, vetted or pending (platform administrators)."""
    return _orgs_page(request, app, viewer)


@router.post("/admin/orgs", openapi_extra=MEMBERS)
def add_org(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    name: Text,
    sector: Annotated[str, Form(max_length=40)],
    country: Annotated[str, Form(max_length=2)],
    pending: Annotated[bool, Form()] = False,
) -> Response:
    _platform(viewer)
    try:
        with app.db.write() as conn:
            org_id = app.members.add_org(conn, viewer, name, sector, country, pending)
            organisation = app.members.get_org(conn, org_id)
    except (InvalidInput, Conflict) as exc:
        form = {"name": name, "sector": sector, "country": country, "pending": pending}
        return _orgs_page(request, app, viewer, _refused(request, exc), form, exc.status)
    return _done(request, ADMIN + "/orgs", "org", organisation, 201)


@router.post("/admin/orgs/{org_id}/vetting", openapi_extra=MEMBERS)
def set_vetted(
    request: Request, org_id: int, viewer: MemberDep, app: AppDep, vetted: Annotated[bool, Form()]
) -> Response:
    """Vetting decides what an organisation may see (pending: TLP:CLEAR only)."""
    _platform(viewer)
    with app.db.write() as conn:
        app.members.set_vetted(conn, viewer, org_id, vetted)
        organisation = app.members.get_org(conn, org_id)
    return _done(request, ADMIN + "/orgs", "vetted" if vetted else "unvetted", organisation)


@router.get("/admin/users", openapi_extra=MEMBERS)
def users(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """Every account of the alliance with its memberships (platform administrators)."""
    _platform(viewer)
    with app.db.read() as conn:
        found = app.members.list_users(conn, viewer)
    extra = _frame(request, viewer, ADMIN + "/users", None, org_names=_org_names(app))
    return page(request, "admin_users.html", {"users": found}, extra=extra, section="admin")


@router.post("/admin/users/{user_id}/disabled", openapi_extra=MEMBERS)
def set_disabled(
    request: Request, user_id: int, viewer: MemberDep, app: AppDep, disabled: Annotated[bool, Form()]
) -> Response:
    """A disabled account can no longer log in nor use its tokens; enabling it gives both back."""
    _platform(viewer)
    with app.db.write() as conn:
        app.members.set_disabled(conn, viewer, user_id, disabled)
    return _done(request, ADMIN + "/users", "disabled" if disabled else "enabled", {"id": user_id})
