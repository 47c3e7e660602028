"""`accord enrich`: who is responsible for IPs, domains and URLs, offline, one JSON object per line.

Registered in `accord.cli` with `main.add_command(enrich)`; it needs no database. The `contact` and
`route` groups (contact points, rules, the routing job, the country view) use the database the main
command names: `main.add_command(contact)`, `main.add_command(route)`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice
from typing import IO, Any

import click
import orjson

from accord.errors import AccordError
from accord.routing.enrich import Enricher

__all__ = ["contact", "enrich", "route"]

CHUNK = 65_536  # values read from stdin per batch


def _stdin_values(stream: IO[bytes]) -> Iterator[str]:
    """One value a line; blank lines skipped; bytes that are not UTF-8 kept visible for the error."""
    for line in stream:
        text = line.decode("utf-8", "backslashreplace").strip()
        if text:
            yield text


def _values(values: tuple[str, ...], stdin: IO[bytes]) -> Iterator[str]:
    for value in values:
        if value == "-":
            yield from _stdin_values(stdin)
        else:
            yield value


@click.command("enrich")
@click.argument("values", nargs=-1)
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Enrichment data of your own, consulted before the shipped data (repeat; earlier wins): "
    ".mmdb (MaxMind DB), ip-location-db CSV, RIR delegated files, a .plv plevin file or a "
    "public_suffix_list.dat.",
)
@click.option("--no-embedded", is_flag=True, help="Answer from the --data files only.")
@click.option(
    "--sources", "show_sources", is_flag=True, help="Print the sources in the order asked, with versions."
)
def enrich(values: tuple[str, ...], data: tuple[str, ...], no_embedded: bool, show_sources: bool) -> None:
    """Enrich VALUES (IPs, CIDRs, domains, URLs, e-mail addresses) offline: country, AS number,
    operator and abuse mailbox of an address; registrable domain, TLD and ccTLD country of a name.

    One JSON object per value and line, in input order; '-' reads one value a line from stdin.
    A value that cannot be enriched gets an object with "error" (the exit status is still 0; a
    count goes to stderr). Unknown answers are null; "source" names the data behind each answer.
    """
    if not values and not show_sources:
        raise click.UsageError("give values to enrich, or '-' to read them from stdin")
    try:
        enricher = Enricher.from_files(data, embedded=not no_embedded)
    except (AccordError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for loaded in enricher.data:
        for problem in loaded.problems:
            click.echo(f"skipped: {problem}", err=True)
        if loaded.skipped > len(loaded.problems):
            click.echo(
                f"skipped: {loaded.skipped - len(loaded.problems)} more in {loaded.provenance.name}", err=True
            )
    out = sys.stdout.buffer
    if show_sources:
        out.write(b"".join(orjson.dumps(source) + b"\n" for source in enricher.sources()))
        return
    stream = _values(values, sys.stdin.buffer)
    total = failed = 0
    while chunk := list(islice(stream, CHUNK)):
        rows = enricher.enrich_many(chunk)
        total += len(rows)
        failed += sum(1 for r in rows if r["error"] is not None)
        out.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out.flush()
    if failed:
        click.echo(f'{failed} of {total} values could not be enriched (see their "error")', err=True)


# --- contact points, rules, routing, the country view (registered with main.add_command) -----------


def _app(ctx: click.Context) -> Any:
    """The façade the main command builds (imported late: accord.cli imports this module)."""
    from accord.cli import _accord

    return _accord(ctx)


def _viewer(app: Any, as_email: str | None, org: str | None = None) -> Any:
    """The operator at the console, or a member named with --as (acting for --org)."""
    from accord.members.model import OPERATOR

    return OPERATOR if as_email is None else app.viewer(as_email, org)


def _friendly(fn: Any) -> Any:
    from accord.cli import friendly

    return friendly(fn)


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


_AS = click.option("--as", "as_email", help="Act as this member (default: the operator).")
_ORG = click.option("--org", "org_name", help="Organisation to act for (with --as).")


@click.group("contact")
def contact() -> None:
    """Contact points: national CERTs, law-enforcement 24/7 points, network abuse desks."""


@contact.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["csirt", "law-enforcement", "abuse"]))
@click.option(
    "--for-org", "for_org", help="The member organisation it speaks for (none: outside the alliance)."
)
@click.option("--country", "countries", multiple=True, help="ISO alpha-2 country it covers (repeat).")
@click.option("--asn", "asns", multiple=True, help="AS number it covers (repeat).")
@click.option("--cidr", "cidrs", multiple=True, help="Network it covers (repeat).")
@click.option("--domain", "domains", multiple=True, help="Domain suffix it covers (repeat).")
@click.option("--email")
@click.option("--url", help="Webhook or TAXII collection URL.")
@click.option(
    "--channel", default="email", show_default=True, type=click.Choice(["email", "webhook", "taxii"])
)
@click.option(
    "--format", "fmt", type=click.Choice(["xarf", "csv", "stix"]), help="Default: xarf (stix for taxii)."
)
@click.option("--languages", default="en", show_default=True, help="Comma-separated, most preferred first.")
@click.option("--hours", default="", help='e.g. "24/7" or "Mon-Fri 08:00-16:00".')
@click.option("--timezone", default="UTC", show_default=True, help="IANA name, e.g. Europe/Warsaw.")
@click.option("--phone")
@click.option(
    "--pgp-key", "pgp_key", type=click.File("r"), help="File holding the ASCII-armoured public key."
)
@_AS
@_ORG
@click.pass_context
def contact_add(ctx: click.Context, name: str, **kw: Any) -> None:
    """Add a contact point (the operator's entries are curated; an org-admin adds its own org's)."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        viewer = _viewer(app, kw.pop("as_email"), kw.pop("org_name"))
        key = kw.pop("pgp_key")
        record = {
            "name": name, "kind": kw["kind"], "org": kw["for_org"], "countries": list(kw["countries"]),
            "asns": list(kw["asns"]), "cidrs": list(kw["cidrs"]), "domains": list(kw["domains"]),
            "email": kw["email"], "url": kw["url"], "channel": kw["channel"], "format": kw["fmt"],
            "languages": kw["languages"], "hours": kw["hours"], "timezone": kw["timezone"],
            "phone": kw["phone"], "pgp_key": key.read() if key is not None else None,
        }  # fmt: skip
        added = app.add_contact(viewer, {k: v for k, v in record.items() if v not in (None, [], "")})
        click.echo(f"contact point {added['id']}: {added['name']} ({added['kind']})")

    run()


@contact.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Default: from the file name.")
@click.option(
    "--no-replace", is_flag=True, help="Refuse records whose name exists instead of replacing them."
)
@_AS
@_ORG
@click.pass_context
def contact_import(
    ctx: click.Context,
    file: Any,
    fmt: str | None,
    no_replace: bool,
    as_email: str | None,
    org_name: str | None,
) -> None:
    """Import contact points from CSV (a header naming the fields) or JSON (an array of records):
    all of them, or, if any record is bad, none (each problem named by record, line and field)."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        chosen = fmt or ("json" if str(file.name).lower().endswith(".json") else "csv")
        done = app.import_contacts(
            _viewer(app, as_email, org_name), file.read(), chosen, replace=not no_replace
        )
        click.echo(f"{done['added']} contact point(s) added, {done['replaced']} replaced")

    run()


@contact.command("list")
@click.option("--country")
@click.option("--kind", type=click.Choice(["csirt", "law-enforcement", "abuse"]))
@click.option("--json", "as_json", is_flag=True)
@_AS
@_ORG
@click.pass_context
def contact_list(
    ctx: click.Context,
    country: str | None,
    kind: str | None,
    as_json: bool,
    as_email: str | None,
    org_name: str | None,
) -> None:
    @_friendly
    def run() -> None:
        app = _app(ctx)
        found = app.contacts(_viewer(app, as_email, org_name), country=country, kind=kind)
        if as_json:
            _echo_json(found)
            return
        for c in found:
            scope = " ".join([*c["countries"], *(f"AS{a}" for a in c["asns"]), *c["cidrs"], *c["domains"]])
            where = c["email"] if c["channel"] == "email" else c["url"]
            state = "" if c["enabled"] else " (disabled)"
            click.echo(f"{c['id']:>4}  {c['kind']:<15} {c['name']}{state}  {c['channel']}:{where}  [{scope}]")

    run()


@contact.command("remove")
@click.argument("name")
@_AS
@_ORG
@click.pass_context
def contact_remove(ctx: click.Context, name: str, as_email: str | None, org_name: str | None) -> None:
    @_friendly
    def run() -> None:
        from accord.routing.contacts import contact_id

        app = _app(ctx)
        with app.db.read() as conn:
            cid = contact_id(conn, name)
        app.remove_contact(_viewer(app, as_email, org_name), cid)
        click.echo(f"contact point {name} removed")

    run()


@contact.command("secret")
@click.argument("name")
@_AS
@_ORG
@click.pass_context
def contact_secret(ctx: click.Context, name: str, as_email: str | None, org_name: str | None) -> None:
    """Print the secret NAME's webhook receiver checks X-Accord-Signature with (alone on stdout)."""

    @_friendly
    def run() -> None:
        from accord.routing.contacts import contact_id

        app = _app(ctx)
        with app.db.read() as conn:
            cid = contact_id(conn, name)
        found = app.webhook_secret(_viewer(app, as_email, org_name), cid)
        click.echo(f"{found['signature']}; secret of {found['contact']}:", err=True)
        click.echo(found["secret"])

    run()


@click.group("route")
def route() -> None:
    """Route abused infrastructure to those who can act on it: rules, the batch job, the views."""


@route.command("run")
@click.option("--batch", default=100_000, show_default=True, help="Stored objects per transaction.")
@click.pass_context
def route_run(ctx: click.Context, batch: int) -> None:
    """Route everything stored since the cursor into the notification outbox (queued rows)."""

    @_friendly
    def run() -> None:
        _echo_json(_app(ctx).routing.route_new(batch_objects=batch))

    run()


@route.command("deliver")
@click.option("--flush", is_flag=True, help="Send every queued notification now, due or not.")
@click.pass_context
def route_deliver(ctx: click.Context, flush: bool) -> None:
    """Send the notifications that are due (the worker does this after routing), as JSON: how many
    were sent, failed (retried later) or given up, and why."""

    @_friendly
    def run() -> None:
        _echo_json(_app(ctx).deliver_notifications(flush=flush))

    run()


@route.command("retry")
@click.argument("notification_id", type=int)
@click.pass_context
def route_retry(ctx: click.Context, notification_id: int) -> None:
    """Queue a failed or cancelled notification again (with its ticket), attempts from 0."""

    @_friendly
    def run() -> None:
        from accord.members.model import OPERATOR

        done = _app(ctx).retry_notification(OPERATOR, notification_id)
        click.echo(f"{len(done['requeued'])} notification row(s) queued again")

    run()


@route.group("rule")
def rule() -> None:
    """Routing rules: who receives what."""


@rule.command("add")
@click.argument("name")
@click.option("--country", "countries", multiple=True, help="Infrastructure in this country (repeat).")
@click.option("--asn", "asns", multiple=True, help="Infrastructure in this AS (repeat).")
@click.option("--type", "types", multiple=True, help="STIX type of the object (repeat).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["ipv4", "ipv6", "domain", "url"]))
@click.option("--tlp", "tlp", multiple=True, help="clear, green, amber, amber+strict or none (repeat).")
@click.option("--min-severity", type=click.Choice(["info", "low", "medium", "high", "critical"]))
@click.option("--min-confidence", type=click.IntRange(0, 100))
@click.option("--to", "to", multiple=True, type=click.Choice(["csirt", "law-enforcement", "abuse"]),
              help="Contact kinds covering the infrastructure (repeat).")  # fmt: skip
@click.option("--contact", "contacts", multiple=True, help="A contact point by name (repeat).")
@click.option("--sector", "sectors", multiple=True, help="Only recipients of organisations in this sector.")
@click.option(
    "--for-org", "for_org", help="The organisation that owns it (default: the operator's, or yours)."
)
@click.option("--replace", is_flag=True, help="Replace the rule of this name.")
@_AS
@_ORG
@click.pass_context
def rule_add(ctx: click.Context, name: str, **kw: Any) -> None:
    """Add a routing rule; an organisation's rule reaches only its own contact points."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        viewer = _viewer(app, kw["as_email"], kw["org_name"])
        match = {
            "countries": list(kw["countries"]), "asns": list(kw["asns"]), "types": list(kw["types"]),
            "kinds": list(kw["kinds"]), "tlp": list(kw["tlp"]), "min_severity": kw["min_severity"],
            "min_confidence": kw["min_confidence"],
        }  # fmt: skip
        send_to = {"kinds": list(kw["to"]), "contacts": list(kw["contacts"]), "sectors": list(kw["sectors"])}
        saved = app.save_rule(
            viewer, name, {k: v for k, v in match.items() if v not in (None, [])},
            {k: v for k, v in send_to.items() if v}, org=kw["for_org"], replace=kw["replace"],
        )  # fmt: skip
        click.echo(f"rule {saved['id']}: {saved['name']}")

    run()


@rule.command("list")
@_AS
@_ORG
@click.pass_context
def rule_list(ctx: click.Context, as_email: str | None, org_name: str | None) -> None:
    @_friendly
    def run() -> None:
        app = _app(ctx)
        for r in app.routing_rules(_viewer(app, as_email, org_name)):
            state = "on " if r["enabled"] else "off"
            owner = r["org"] or "operator"
            click.echo(f"{r['id']:>4} {state} {r['name']} ({owner}): {orjson.dumps(r['match']).decode()} -> "
                       f"{orjson.dumps(r['send_to']).decode()}")  # fmt: skip

    run()


def _rule_switch(
    ctx: click.Context, name: str, enabled: bool, as_email: str | None, org_name: str | None
) -> None:
    @_friendly
    def run() -> None:
        app = _app(ctx)
        app.set_rule_enabled(_viewer(app, as_email, org_name), name, enabled)
        click.echo(f"rule {name} {'enabled' if enabled else 'disabled'}")

    run()


@rule.command("enable")
@click.argument("name")
@_AS
@_ORG
@click.pass_context
def rule_enable(ctx: click.Context, name: str, as_email: str | None, org_name: str | None) -> None:
    _rule_switch(ctx, name, True, as_email, org_name)


@rule.command("disable")
@click.argument("name")
@_AS
@_ORG
@click.pass_context
def rule_disable(ctx: click.Context, name: str, as_email: str | None, org_name: str | None) -> None:
    _rule_switch(ctx, name, False, as_email, org_name)


@rule.command("remove")
@click.argument("name")
@_AS
@_ORG
@click.pass_context
def rule_remove(ctx: click.Context, name: str, as_email: str | None, org_name: str | None) -> None:
    @_friendly
    def run() -> None:
        app = _app(ctx)
        app.remove_rule(_viewer(app, as_email, org_name), name)
        click.echo(f"rule {name} removed")

    run()


@route.command("country")
@click.argument("country")
@click.option("--as", "as_email", required=True, help="E-mail of the member asking.")
@_ORG
@click.option("--days", default=30, show_default=True)
@click.pass_context
def route_country(ctx: click.Context, country: str, as_email: str, org_name: str | None, days: int) -> None:
    """A country's abused infrastructure (by AS and operator, per day) and who was notified, as JSON."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        _echo_json(app.country_view(app.viewer(as_email, org_name), country, days=days))

    run()


@route.command("ranking")
@click.option("--as", "as_email", required=True, help="E-mail of the member asking.")
@_ORG
@click.option("--days", default=30, show_default=True)
@click.pass_context
def route_ranking(ctx: click.Context, as_email: str, org_name: str | None, days: int) -> None:
    """Countries ranked by abused IPv4 addresses per million addresses of their space."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        for r in app.country_ranking(app.viewer(as_email, org_name), days=days):
            per = "-" if r["per_million"] is None else f"{r['per_million']:.2f}"
            click.echo(f"{r['rank']:>4}  {r['country']}  {per:>10} per million  {r['ipv4']:>8} IPv4  "
                       f"{r['domain']:>6} domains  {r['url']:>6} URLs")  # fmt: skip

    run()


@route.command("outbox")
@click.option("--as", "as_email", required=True, help="E-mail of the member asking.")
@_ORG
@click.option("--country")
@click.option("--status")
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def route_outbox(
    ctx: click.Context,
    as_email: str,
    org_name: str | None,
    country: str | None,
    status: str | None,
    limit: int,
) -> None:
    """Notifications (queued and sent), showing only values of objects the member may see, as JSON."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        _echo_json(
            app.notifications(app.viewer(as_email, org_name), country=country, status=status, limit=limit)
        )

    run()


@route.group("digest")
def digest() -> None:
    """Daily digests per country: each past UTC day's country view, sent to a contact point."""


@digest.command("subscribe")
@click.argument("country")
@click.option("--contact", "contact_name", required=True, help="The contact point (e-mail or webhook).")
@_AS
@_ORG
@click.pass_context
def digest_subscribe(
    ctx: click.Context, country: str, contact_name: str, as_email: str | None, org_name: str | None
) -> None:
    """Send the contact point COUNTRY's digest every day (after the UTC day ends)."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        done = app.subscribe_digest(_viewer(app, as_email, org_name), country, contact_name)
        click.echo(f"digest {done['id']}: {done['country']} to {done['contact']} ({done['channel']})")

    run()


@digest.command("unsubscribe")
@click.argument("country")
@click.option("--contact", "contact_name", required=True, help="The contact point.")
@_AS
@_ORG
@click.pass_context
def digest_unsubscribe(
    ctx: click.Context, country: str, contact_name: str, as_email: str | None, org_name: str | None
) -> None:
    """Stop sending the contact point COUNTRY's digest."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        app.unsubscribe_digest(_viewer(app, as_email, org_name), country=country, contact=contact_name)
        click.echo(f"digest of {country.upper()} to {contact_name} stopped")

    run()


@digest.command("list")
@click.option("--json", "as_json", is_flag=True)
@_AS
@_ORG
@click.pass_context
def digest_list(ctx: click.Context, as_json: bool, as_email: str | None, org_name: str | None) -> None:
    """Subscriptions (the operator's view: all of them), with the last digest's delivery state."""

    @_friendly
    def run() -> None:
        app = _app(ctx)
        found = app.digest_subscriptions(_viewer(app, as_email, org_name))
        if as_json:
            _echo_json(found)
            return
        for d in found:
            last = d["last"]
            state = "none yet"
            if last:
                state = f"last {last['day']} {last['status']} {last['ticket'] or ''}".rstrip()
            off = "" if d["enabled"] else " (contact disabled)"
            click.echo(f"{d['id']:>4}  {d['country']}  {d['contact']}{off}  {d['channel']}  {state}")

    run()


@digest.command("show")
@click.argument("country")
@click.option("--day", help="YYYY-MM-DD (UTC); default: yesterday.")
@click.option(
    "--as",
    "as_email",
    help="As this member sees it (default: as a contact outside the alliance: TLP:CLEAR only).",
)
@_ORG
@click.pass_context
def digest_show(
    ctx: click.Context, country: str, day: str | None, as_email: str | None, org_name: str | None
) -> None:
    """Print COUNTRY's digest of a day as JSON: abused infrastructure by kind, AS and operator, who
    was notified and what came back."""

    @_friendly
    def run() -> None:
        from accord.routing.digest import outside_viewer

        app = _app(ctx)
        viewer = outside_viewer() if as_email is None else app.viewer(as_email, org_name)
        _echo_json(app.digest(viewer, country, day))

    run()
