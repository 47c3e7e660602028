"""The routing JSON API: the contact-point directory, routing rules, the outbox and the country view.

Mounted beside `accord.web.api` (`app.include_router(accord.routing.api.router)`). Thin like it: each
route parses the request and calls the `Accord` façade. Access (`openapi_extra["x-access"]`):
directory, rules, digest subscriptions, webhook secrets and retries are "members" (authorised in
`contacts` / `rules` / `digest` / the façade: the operator and platform administrators for every
entry, org-admins for their organisation's); notifications (with their delivery record: status,
attempts, ticket, last error), the country view and a country's daily digest are "policy" (counted
and listed only through the policy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from accord.web.api import MEMBERS, POLICY, AppDep, JSONBytes, MemberDep, ViewerDep

router = APIRouter(prefix="/api/v1", tags=["routing"])

MAX_IMPORT_BYTES = 16 << 20


class ContactBody(BaseModel):
    """A contact point; list fields take arrays (or text separated by spaces or commas)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    kind: str = Field(description="csirt, law-enforcement or abuse")
    org: str | None = Field(default=None, description="the member organisation it speaks for")
    channel: str = Field(default="email", description="email, webhook or taxii")
    format: str | None = Field(default=None, description="xarf, csv or stix")
    email: str | None = Field(default=None, max_length=320)
    url: str | None = Field(default=None, max_length=2048)
    languages: list[str] | str | None = None
    hours: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=64)
    pgp_key: str | None = Field(default=None, max_length=100_000)
    enabled: bool = True
    countries: list[str] | str | None = None
    asns: list[int | str] | str | None = None
    cidrs: list[str] | str | None = None
    domains: list[str] | str | None = None


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    kind: str | None = None
    channel: str | None = None
    format: str | None = None
    email: str | None = Field(default=None, max_length=320)
    url: str | None = Field(default=None, max_length=2048)
    languages: list[str] | str | None = None
    hours: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=64)
    pgp_key: str | None = Field(default=None, max_length=100_000)
    enabled: bool | None = None
    countries: list[str] | str | None = None
    asns: list[int | str] | str | None = None
    cidrs: list[str] | str | None = None
    domains: list[str] | str | None = None


@router.get("/contacts", openapi_extra=MEMBERS)
def list_contacts(
    viewer: MemberDep, app: AppDep, country: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """The contact-point directory (vetted members and the operator see all of it)."""
    return {"contacts": app.contacts(viewer, country=country, kind=kind)}


@router.post("/contacts", openapi_extra=MEMBERS, status_code=201)
def add_contact(body: ContactBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    return app.add_contact(viewer, body.model_dump(exclude_none=True))


@router.post("/contacts/import", openapi_extra=MEMBERS, status_code=201)
async def import_contacts(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    format: Annotated[str, Query(description="csv or json")],
    replace: bool = True,
) -> dict[str, Any]:
    """A CSV or JSON file of contact points as the body: all stored, or none (every bad record
    named by record, line and field)."""
    from starlette.concurrency import run_in_threadpool

    from accord.errors import InvalidInput, TooLarge

    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_IMPORT_BYTES:
            raise TooLarge(f"a contact file is at most {MAX_IMPORT_BYTES} bytes")
    if not data:
        raise InvalidInput("the request body is empty; send the CSV or JSON file as the body")
    return await run_in_threadpool(app.import_contacts, viewer, data, format, replace=replace)


@router.get("/contacts/{contact_id}", openapi_extra=MEMBERS)
def get_contact(contact_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    return app.contact(viewer, contact_id)


@router.get("/contacts/{contact_id}/webhook-secret", openapi_extra=MEMBERS)
def contact_webhook_secret(contact_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """The secret the contact's webhook receiver checks `X-Accord-Signature` with (HMAC-SHA256 of
    the raw body): for the operator and the organisation's admins."""
    return app.webhook_secret(viewer, contact_id)


@router.patch("/contacts/{contact_id}", openapi_extra=MEMBERS)
def update_contact(contact_id: int, body: ContactPatch, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    return app.update_contact(viewer, contact_id, body.model_dump(exclude_unset=True))


@router.delete("/contacts/{contact_id}", openapi_extra=MEMBERS, status_code=204)
def remove_contact(contact_id: int, viewer: MemberDep, app: AppDep) -> Response:
    app.remove_contact(viewer, contact_id)
    return Response(status_code=204)


class RuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    match: dict[str, Any] = Field(
        default_factory=dict,
        description="countries, asns, types, kinds, tlp, min_severity, min_confidence (each optional)",
    )
    send_to: dict[str, Any] = Field(description="kinds (csirt, law-enforcement, abuse), contacts, sectors")
    enabled: bool = True
    org: str | None = Field(default=None, description="the owning organisation (default: yours)")


@router.get("/routing/rules", openapi_extra=MEMBERS)
def list_rules(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """The operator's rules and the caller's organisation's."""
    return {"rules": app.routing_rules(viewer)}


@router.post("/routing/rules", openapi_extra=MEMBERS, status_code=201)
def add_rule(body: RuleBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    return app.save_rule(viewer, body.name, body.match, body.send_to, enabled=body.enabled, org=body.org)


@router.put("/routing/rules/{rule_id}", openapi_extra=MEMBERS)
def replace_rule(rule_id: int, body: RuleBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    from accord.errors import InvalidInput

    current = [r for r in app.routing_rules(viewer) if r["id"] == rule_id]
    if not current or current[0]["name"] != body.name:
        raise InvalidInput("the body's name must be the rule's (rules are named once)", field="name")
    return app.save_rule(
        viewer, body.name, body.match, body.send_to, enabled=body.enabled, org=body.org, replace=True
    )


@router.delete("/routing/rules/{rule_id}", openapi_extra=MEMBERS, status_code=204)
def remove_rule(rule_id: int, viewer: MemberDep, app: AppDep) -> Response:
    app.remove_rule(viewer, rule_id)
    return Response(status_code=204)


@router.get("/routing/notifications", openapi_extra=POLICY, response_class=JSONBytes)
def list_notifications(
    viewer: ViewerDep,
    app: AppDep,
    country: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Outbox rows, newest first, each showing only values of objects the caller may see."""
    return JSONBytes(
        {"notifications": app.notifications(viewer, country=country, status=status, limit=limit)}
    )


@router.post("/routing/notifications/{notification_id}/retry", openapi_extra=MEMBERS)
def retry_notification(notification_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """Queue a failed or cancelled notification again, with its ticket (operator and platform
    administrators)."""
    return app.retry_notification(viewer, notification_id)


@router.get("/countries", openapi_extra=POLICY, response_class=JSONBytes)
def country_ranking(viewer: ViewerDep, app: AppDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Any:
    """Countries ranked by abused IPv4 addresses per million addresses of their space."""
    return JSONBytes({"days": days, "countries": app.country_ranking(viewer, days=days)})


@router.get("/countries/{country}/digest", openapi_extra=POLICY, response_class=JSONBytes)
def country_digest(
    country: str,
    viewer: ViewerDep,
    app: AppDep,
    day: Annotated[str | None, Query(description="YYYY-MM-DD (UTC); default: yesterday")] = None,
) -> Any:
    """A country's daily digest for one UTC day: the country view of that day (abused infrastructure
    by kind, AS and operator, who was notified, what came back) as the caller may see it."""
    return JSONBytes(app.digest(viewer, country, day))


class DigestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str = Field(max_length=64, description="ISO 3166-1 alpha-2")
    contact: str | int = Field(description="the contact point, by name or id (e-mail or webhook)")


@router.get("/routing/digests", openapi_extra=MEMBERS)
def list_digests(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """Daily digest subscriptions: every one for the operator, the caller's organisation's otherwise,
    each with its last digest's delivery state."""
    return {"digests": app.digest_subscriptions(viewer)}


@router.post("/routing/digests", openapi_extra=MEMBERS, status_code=201)
def add_digest(body: DigestBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """Subscribe a contact point to a country's daily digest (those who manage the contact point)."""
    return app.subscribe_digest(viewer, body.country, body.contact)


@router.delete("/routing/digests/{subscription_id}", openapi_extra=MEMBERS, status_code=204)
def remove_digest(subscription_id: int, viewer: MemberDep, app: AppDep) -> Response:
    app.unsubscribe_digest(viewer, subscription_id)
    return Response(status_code=204)


@router.get("/countries/{country}", openapi_extra=POLICY, response_class=JSONBytes)
def country_view(
    country: str, viewer: ViewerDep, app: AppDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> Any:
    """A country's abused infrastructure by AS and operator, per day, who was notified and what
    came back (sightings, take-downs reported)."""
    return JSONBytes(app.country_view(viewer, country, days=days))
