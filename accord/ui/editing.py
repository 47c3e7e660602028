"""Create, edit, share and revoke: a member's own intelligence, from the browser.

Every change is a STIX object submitted through the façade (`Accord.submit`, as POST
/api/v1/objects does), so the store's rules apply unchanged: a new object, or a new version of one's
own (edit: new content; share: new markings and audience; revoke: `revoked: true`). Who it is shared
with is a `Share` resolved by `Accord.resolve_share` (groups the organisation neither owns nor belongs
to are refused there) and checked against the TLP level by `Accord.check_share` (policy): CLEAR and
GREEN name no one, AMBER and AMBER+STRICT organisations and groups, RED people of one's own
organisation. The form offers only what the chosen level allows (static/accord.js hides the rest);
the server refuses the rest anyway. A refusal is shown next to the field it names.

The edit, share and revoke pages exist only for the producer organisation's analysts
(`Accord.own_object`): for anyone else they are 404, like a hidden object.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from accord.app import Accord
from accord.errors import AccordError, BatchRefused, Conflict, InvalidInput
from accord.ingest import pattern_for
from accord.intel.observables import KINDS, normalise
from accord.intel.timestamps import format_micros, now_micros, parse_micros
from accord.intel.tlp import EMIT_ID, LEVEL_OF_ID, TLP
from accord.members.model import Permission, Viewer
from accord.ui.i18n import N_
from accord.ui.render import object_url, page, redirect, ui_router, wants_json
from accord.web.api import POLICY, AppDep, JSONBytes, MemberDep, _need

router = ui_router()

NAMED = ("malware", "threat-actor", "intrusion-set", "campaign", "tool", "infrastructure", "vulnerability")
KIND_LABELS = {"indicator": N_("Indicator"), "note": N_("Note"), "named": N_("Other named object")}
VALUE_LABELS = {
    "ipv4": N_("IPv4 address"),
    "ipv6": N_("IPv6 address"),
    "domain": N_("Domain name"),
    "url": N_("URL"),
    "email": N_("E-mail address"),
}  # hashes keep their names (MD5, SHA-1 …)
TLP_HELP = {
    "clear": N_("Anyone, without limit."),
    "green": N_("Every member organisation of the alliance."),
    "amber": N_("Your organisation and the organisations and groups you name."),
    "amber+strict": N_("Your organisation and those you name, and no one further."),
    "red": N_("Only you and the people of your organisation you name."),
}
# What each TLP level lets a producer name (policy.check_share decides; the form follows it).
ALLOWED: dict[str, list[str]] = {
    "clear": [],
    "green": [],
    "amber": ["org", "group"],
    "amber+strict": ["org", "group"],
    "red": ["user"],
}
FIELD_LABELS = {
    "name": N_("Name"),
    "description": N_("Description"),
    "confidence": N_("Confidence"),
    "valid_from": N_("Valid from (UTC)"),
    "pattern": N_("STIX pattern"),
    "value": N_("Value"),
    "abstract": N_("Summary"),
    "content": N_("Text"),
    "about": N_("About (object ids)"),
    "tlp": N_("TLP: who may read it"),
    "share_with": N_("Shared with"),
}
# Where a store refusal is shown: the STIX property it names -> the form's field.
FIELD_OF = {"object_refs": "about", "object_marking_refs": "tlp", "is_family": "name"}
FORM_FIELDS = (
    "name", "description", "confidence", "valid_from", "pattern", "value", "abstract", "content",
    "about", "tlp", "share_with",
)  # fmt: skip
_SEPARATORS = re.compile(r"[\s,;]+")


class Draft(BaseModel):
    """What the form sent (kept as typed, to show again with the problems next to their fields)."""

    model_config = ConfigDict(extra="ignore")

    kind: str = Field(default="indicator", max_length=40)
    type: str = Field(default="malware", max_length=40)  # which named object
    name: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=100_000)
    confidence: str = Field(default="", max_length=20)
    valid_from: str = Field(default="", max_length=40)
    pattern: str = Field(default="", max_length=100_000)
    value: str = Field(default="", max_length=10_000)
    value_type: str = Field(default="", max_length=10)
    abstract: str = Field(default="", max_length=1000)
    content: str = Field(default="", max_length=100_000)
    about: str = Field(default="", max_length=100_000)
    tlp: str = Field(default="amber", max_length=20)
    share_with: list[str] = Field(default_factory=list, max_length=1000)


DraftForm = Annotated[Draft, Form()]


# --- who may change what -------------------------------------------------------------------------------


def may_change(viewer: Viewer, item: dict[str, Any]) -> bool:
    """Whether to offer edit/share/revoke on an object's page (the pages themselves ask the façade)."""
    return (
        viewer.org_id == item["producer"]["id"]
        and viewer.can(Permission.INTEL_WRITE)
        and not item["revoked"]
        and "modified" in item["object"]
    )


def audience_choices(app: Accord, viewer: Viewer) -> dict[str, Any]:
    """Whom the viewer may name, per kind, and which kinds each TLP level allows."""
    with app.db.read() as conn:
        orgs = [o for o in app.members.list_orgs(conn) if o["id"] != viewer.org_id]
        groups = app.members.list_groups(conn, viewer)
        users = [
            u
            for u in app.members.list_users(conn, viewer)
            if u["id"] != viewer.user_id
            and not u["disabled"]
            and any(mb["org_id"] == viewer.org_id for mb in u["memberships"])
        ]
    return {
        "tlps": [t.value for t in TLP],
        "allowed": ALLOWED,
        "orgs": [{"spec": "org:" + o["name"], "name": o["name"]} for o in orgs],
        "groups": [{"spec": "group:" + g["name"], "name": g["name"]} for g in groups],
        "users": [{"spec": "user:" + u["email"], "name": u["name"], "email": u["email"]} for u in users],
    }


# --- building objects ----------------------------------------------------------------------------------


def _tlp(text: str) -> TLP:
    try:
        return TLP.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tlp") from None


def _confidence(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 <= int(text) <= 100:
        raise InvalidInput("confidence must be a whole number from 0 to 100", field="confidence")
    return int(text)


def _valid_from(text: str, now_us: int) -> str:
    """A STIX timestamp from the form's date and time (taken as UTC), or now."""
    text = text.strip()
    if not text:
        return format_micros(now_us)
    try:
        return format_micros(parse_micros(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not a date and time: {text!r}", field="valid_from") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return format_micros(int(moment.timestamp() * 1_000_000))


def _input_time(stamp: Any) -> str:
    """A STIX timestamp as a datetime-local field holds it (UTC, to the second)."""
    if not isinstance(stamp, str):
        return ""
    try:
        us = parse_micros(stamp)
    except ValueError:
        return stamp
    return datetime.fromtimestamp(us / 1_000_000, UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    """Set a property, or remove it when the form left it empty."""
    if value is None or value == "":
        obj.pop(key, None)
    else:
        obj[key] = value


def _indicator_pattern(draft: Draft) -> str:
    if draft.pattern.strip():
        return draft.pattern.strip()
    if not draft.value.strip():
        raise InvalidInput("give a pattern, or a value and its type", field="value")
    kind = draft.value_type or None
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"unknown type of value {kind!r}", field="value")
    try:
        return pattern_for(normalise(draft.value.strip(), kind))
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field="value") from None


def _about(app: Accord, viewer: Viewer, text: str) -> list[str]:
    """The objects a note is about: ids the viewer may see (anything else: as if absent)."""
    ids = list(dict.fromkeys(i for i in _SEPARATORS.split(text) if i))
    for stix_id in ids:
        try:
            app.get_object(viewer, stix_id)
        except AccordError:
            raise InvalidInput(f"no object {stix_id}", field="about") from None
    return ids


def new_object(app: Accord, viewer: Viewer, draft: Draft, now_us: int) -> dict[str, Any]:
    """A new STIX object from the create form."""
    if draft.kind == "indicator":
        stix_type = "indicator"
    elif draft.kind == "note":
        stix_type = "note"
    elif draft.kind == "named" and draft.type in NAMED:
        stix_type = draft.type
    else:
        raise InvalidInput(f"cannot create a {draft.kind!r} here", field="kind")
    stamp = format_micros(now_us)
    obj: dict[str, Any] = {
        "type": stix_type,
        "spec_version": "2.1",
        "id": f"{stix_type}--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
    }
    if stix_type == "indicator":
        obj["pattern"] = _indicator_pattern(draft)
        obj["pattern_type"] = "stix"
        obj["valid_from"] = _valid_from(draft.valid_from, now_us)
        _set(obj, "name", draft.name.strip() or (draft.value.strip() if not draft.pattern.strip() else ""))
    elif stix_type == "note":
        _set(obj, "abstract", draft.abstract.strip())
        _set(obj, "content", draft.content.strip())
        _set(obj, "object_refs", _about(app, viewer, draft.about) or None)
    else:
        _set(obj, "name", draft.name.strip())
        if stix_type == "malware":
            obj["is_family"] = True
    _set(obj, "description", draft.description.strip())
    _set(obj, "confidence", _confidence(draft.confidence))
    obj["object_marking_refs"] = [EMIT_ID[_tlp(draft.tlp)]]
    return obj


def edit_fields(obj: dict[str, Any]) -> list[str]:
    """The properties the edit form offers for an object (the others are kept as they are)."""
    if obj["type"] == "indicator":
        return ["name", "description", "pattern", "valid_from", "confidence"]
    if obj["type"] == "note":
        return ["abstract", "content", "confidence"]
    named = ["name"] if obj["type"] in NAMED or "name" in obj else []
    return [*named, "description", "confidence"]


def next_version(obj: dict[str, Any], now_us: int) -> dict[str, Any]:
    """A copy stamped as the next version (`modified` later than the current one's)."""
    new = dict(obj)
    current = parse_micros(obj["modified"])
    new["modified"] = format_micros(max(now_us, current + 1))
    return new


def edited(obj: dict[str, Any], draft: Draft, now_us: int) -> dict[str, Any]:
    new = next_version(obj, now_us)
    for key in edit_fields(obj):
        if key == "confidence":
            _set(new, key, _confidence(draft.confidence))
        elif key == "valid_from":
            new[key] = _valid_from(draft.valid_from, now_us)
        elif key == "pattern":
            new[key] = draft.pattern.strip()
        else:
            _set(new, key, getattr(draft, key).strip())
    return new


def reshared(obj: dict[str, Any], tlp: TLP, now_us: int) -> dict[str, Any]:
    new = next_version(obj, now_us)
    others = [r for r in obj.get("object_marking_refs", []) if r not in LEVEL_OF_ID]
    new["object_marking_refs"] = [*others, EMIT_ID[tlp]]
    return new


def store(app: Accord, viewer: Viewer, obj: dict[str, Any], tlp: TLP | None, specs: list[str]) -> None:
    """Submit one object with its audience, the way POST /api/v1/objects does; refused whole."""
    try:
        share = app.resolve_share(viewer, specs)
    except AccordError as exc:  # an unknown name, or a group that is not the organisation's
        raise InvalidInput(exc.detail, field="share_with") from None
    app.check_share(viewer, tlp, share)
    app.submit(viewer, [(0, obj, orjson.dumps(obj).decode())], default_tlp=tlp, share=share, what="ui")


def field_errors(exc: AccordError, value_mode: bool = False) -> dict[str, str]:
    """The problems of a refusal, by the form field they name ("" for the rest)."""
    problems = exc.problems if isinstance(exc, BatchRefused) else [exc]
    errors: dict[str, str] = {}
    for p in problems:
        name = str(p.where.get("field", ""))
        name = FIELD_OF.get(name, name)
        if name == "pattern" and value_mode:
            name = "value"
        if name not in FORM_FIELDS:
            name = ""
        errors.setdefault(name, p.detail)
    return errors


# --- pages ---------------------------------------------------------------------------------------------


def _form_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    draft: Draft,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    data = {"kinds": list(KIND_LABELS), "named_types": NAMED, "audiences": audience_choices(app, viewer)}
    extra = {
        "draft": draft,
        "errors": errors or {},
        "kind_labels": KIND_LABELS,
        "value_labels": VALUE_LABELS,
        "value_kinds": KINDS,
        "tlp_help": TLP_HELP,
        "field_labels": FIELD_LABELS,
    }
    return page(request, "create.html", data, extra=extra, status=status, section="create")


@router.get("/new", openapi_extra=POLICY)
def create_form(
    request: Request, viewer: MemberDep, app: AppDep, kind: str = "indicator", about: str = ""
) -> Response:
    """The form for a new indicator, note or other named object (`?about=ID` starts a note on it)."""
    _need(viewer, Permission.INTEL_WRITE)
    if kind not in KIND_LABELS:
        raise InvalidInput(f"kind must be one of {', '.join(KIND_LABELS)}", field="kind")
    return _form_page(request, app, viewer, Draft(kind=kind, about=about[:10_000]))


@router.post("/new", openapi_extra=POLICY)
def create(request: Request, viewer: MemberDep, app: AppDep, draft: DraftForm) -> Response:
    """Store the new object; on a refusal, the form again with each problem next to its field."""
    _need(viewer, Permission.INTEL_WRITE)
    try:
        tlp = _tlp(draft.tlp)
        obj = new_object(app, viewer, draft, now_micros())
        store(app, viewer, obj, tlp, draft.share_with)
    except AccordError as exc:
        if wants_json(request):
            raise
        errors = field_errors(exc, value_mode=draft.kind == "indicator" and not draft.pattern.strip())
        return _form_page(request, app, viewer, draft, errors=errors, status=exc.status)
    return _done(request, app, viewer, obj["id"], 201)


def _done(request: Request, app: Accord, viewer: Viewer, stix_id: str, status: int) -> Response:
    if wants_json(request):
        return JSONBytes({"object": app.get_object(viewer, stix_id)}, status_code=status)
    return redirect(object_url(stix_id))


def _own(app: Accord, viewer: Viewer, stix_id: str) -> dict[str, Any]:
    """The viewer's organisation's object to change (else 404); a revoked one takes no more."""
    item = app.own_object(viewer, stix_id)
    if item["revoked"]:
        raise Conflict("this object was revoked; no newer version may follow")
    return item


def _edit_page(
    request: Request,
    item: dict[str, Any],
    draft: Draft,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    extra = {
        "draft": draft,
        "errors": errors or {},
        "fields": edit_fields(item["object"]),
        "field_labels": FIELD_LABELS,
    }
    return page(request, "edit.html", {"object": item}, extra=extra, status=status, section="search")


@router.get("/objects/{stix_id}/edit", openapi_extra=POLICY)
def edit_form(request: Request, stix_id: str, viewer: MemberDep, app: AppDep) -> Response:
    """A new version of one's own object: the form holds the newest one."""
    item = _own(app, viewer, stix_id)
    obj = item["object"]
    draft = Draft(
        kind=obj["type"],
        name=obj.get("name", ""),
        description=obj.get("description", ""),
        confidence=str(obj.get("confidence", "")),
        valid_from=_input_time(obj.get("valid_from")),
        pattern=obj.get("pattern", ""),
        abstract=obj.get("abstract", ""),
        content=obj.get("content", ""),
    )
    return _edit_page(request, item, draft)


@router.post("/objects/{stix_id}/edit", openapi_extra=POLICY)
def edit(request: Request, stix_id: str, viewer: MemberDep, app: AppDep, draft: DraftForm) -> Response:
    item = _own(app, viewer, stix_id)
    try:
        obj = edited(item["object"], draft, now_micros())
        store(app, viewer, obj, _level(item), item["share_with"])
    except AccordError as exc:
        if wants_json(request):
            raise
        return _edit_page(request, item, draft, field_errors(exc), exc.status)
    return _done(request, app, viewer, stix_id, 200)


def _level(item: dict[str, Any]) -> TLP | None:
    return TLP(item["tlp"]) if item["tlp"] else None


def _share_page(
    request: Request,
    app: Accord,
    viewer: Viewer,
    item: dict[str, Any],
    draft: Draft,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    data = {"object": item, "audiences": audience_choices(app, viewer)}
    extra = {"draft": draft, "errors": errors or {}, "tlp_help": TLP_HELP, "field_labels": FIELD_LABELS}
    return page(request, "share.html", data, extra=extra, status=status, section="search")


@router.get("/objects/{stix_id}/share", openapi_extra=POLICY)
def share_form(request: Request, stix_id: str, viewer: MemberDep, app: AppDep) -> Response:
    """Whom one's own object is shared with: its TLP level and the audience it names."""
    item = _own(app, viewer, stix_id)
    draft = Draft(tlp=item["tlp"] or "amber+strict", share_with=item["share_with"])
    return _share_page(request, app, viewer, item, draft)


@router.post("/objects/{stix_id}/share", openapi_extra=POLICY)
def share(request: Request, stix_id: str, viewer: MemberDep, app: AppDep, draft: DraftForm) -> Response:
    """A new version with the new marking and audience (those who could read an earlier version
    still can: what was shared stays shared)."""
    item = _own(app, viewer, stix_id)
    try:
        tlp = _tlp(draft.tlp)
        store(app, viewer, reshared(item["object"], tlp, now_micros()), tlp, draft.share_with)
    except AccordError as exc:
        if wants_json(request):
            raise
        return _share_page(request, app, viewer, item, draft, field_errors(exc), exc.status)
    return _done(request, app, viewer, stix_id, 200)


@router.get("/objects/{stix_id}/revoke", openapi_extra=POLICY)
def revoke_form(request: Request, stix_id: str, viewer: MemberDep, app: AppDep) -> Response:
    item = _own(app, viewer, stix_id)
    return page(request, "revoke.html", {"object": item}, extra={"error": None}, section="search")


@router.post("/objects/{stix_id}/revoke", openapi_extra=POLICY)
def revoke(request: Request, stix_id: str, viewer: MemberDep, app: AppDep) -> Response:
    """A last version with `revoked: true`, for the same audience; no version may follow it."""
    item = _own(app, viewer, stix_id)
    obj = next_version(item["object"], now_micros())
    obj["revoked"] = True
    try:
        store(app, viewer, obj, _level(item), item["share_with"])
    except AccordError as exc:
        if wants_json(request):
            raise
        extra = {"error": str(exc)}
        status = exc.status
        return page(request, "revoke.html", {"object": item}, extra=extra, status=status, section="search")
    return _done(request, app, viewer, stix_id, 200)
