"""The `accord` command: thin over the library. Errors are one line and a non-zero exit."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from accord.app import Accord, create_app
from accord.errors import AccordError, BatchRefused
from accord.intel.tlp import TLP
from accord.intel.validate import OUTCOMES
from accord.members.model import OPERATOR, Sector
from accord.routing.commands import contact, enrich, route
from accord.settings import Settings, describe

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    raise click.ClickException(message)


def friendly(fn: F) -> F:
    """Turn expected errors into one line on stderr and exit 1: never a stack trace for a mistake."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BatchRefused as exc:
            for p in exc.problems[:20]:
                click.echo(f"refused: {p}", err=True)
            _fail(f"nothing was stored: {len(exc.problems)} problem(s); first: {exc.problems[0]}")
        except AccordError as exc:
            _fail(str(exc))
        except (ValueError, OSError) as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _accord(ctx: click.Context) -> Accord:
    obj = ctx.ensure_object(dict)
    if "accord" not in obj:
        try:
            obj["accord"] = create_app(
                Settings.from_env(database_url=obj.get("database"), data_dir=obj.get("data_dir"))
            )
        except (AccordError, ValueError) as exc:
            _fail(str(exc))
        ctx.call_on_close(obj["accord"].close)
    app: Accord = obj["accord"]
    if obj.get("needs_schema", True) and app.db.revision() is None:
        _fail("the database has no schema yet: run 'accord init' first")
    return app


@click.group()
@click.option(
    "--database", envvar="ACCORD_DATABASE_URL", help="Database URL (default: SQLite in the data dir)."
)
@click.option("--data-dir", envvar="ACCORD_DATA_DIR", help="Directory for local state (default: ./data).")
@click.version_option(package_name="accord")
@click.pass_context
def main(ctx: click.Context, database: str | None, data_dir: str | None) -> None:
    """Accord: share cybercrime intelligence across an alliance (STIX 2.1, TLP 2.0)."""
    ctx.ensure_object(dict).update(database=database, data_dir=data_dir)


@main.command()
@click.pass_context
@friendly
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    ctx.obj["needs_schema"] = False
    app = _accord(ctx)
    click.echo(f"schema at revision {app.init()} in {app.db.engine.url.render_as_string(hide_password=True)}")


@main.command()
@click.pass_context
@friendly
def compact(ctx: click.Context) -> None:
    """Rebuild the SQLite database file: free space back to the disk, pages at today's size.

    Needs the database to itself: stop the server and workers first. Needs free disk space up to
    twice the database's size."""
    app = _accord(ctx)
    before, after = app.db.compact()
    click.echo(
        f"compacted: {before.bytes / 2**20:,.1f} MiB in {before.page_size:,}-byte pages"
        f" -> {after.bytes / 2**20:,.1f} MiB in {after.page_size:,}-byte pages"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
@friendly
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from accord.web.api import create_asgi

    app = _accord(ctx)
    click.echo(f"Accord on http://{host}:{port}/  (API docs: http://{host}:{port}/api/v1/docs)")
    uvicorn.run(create_asgi(app), host=host, port=port, log_level="warning")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--objects", default=3000, show_default=True, help="How many generated objects.")
@click.option("--no-serve", is_flag=True, help="Build the demo alliance, then exit.")
@click.pass_context
@friendly
def demo(ctx: click.Context, host: str, port: int, objects: int, no_serve: bool) -> None:
    """Build a demo alliance (organisations, users, groups, intelligence) and serve it."""
    from accord.demo import build_demo

    ctx.obj["needs_schema"] = False
    app = _accord(ctx)
    app.init()
    logins = build_demo(app, objects=objects, progress=_progress_factory("demo intelligence"))
    url = f"http://{host}:{port}"
    click.echo("Demo alliance ready. Accounts (the password is below):")
    for line in logins:
        click.echo("  " + line.replace("<server>", url))
    if no_serve:
        return
    ctx.invoke(serve, host=host, port=port)


# --- members -----------------------------------------------------------------------------------------


@main.group()
def org() -> None:
    """Organisations."""


@org.command("add")
@click.argument("name")
@click.option("--sector", required=True, type=click.Choice([s.value for s in Sector]))
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code.")
@click.option("--pending", is_flag=True, help="Create unvetted (sees only TLP:CLEAR until vetted).")
@click.pass_context
@friendly
def org_add(ctx: click.Context, name: str, sector: str, country: str, pending: bool) -> None:
    app = _accord(ctx)
    with app.db.write() as conn:
        org_id = app.members.add_org(conn, OPERATOR, name, sector, country, pending)
    click.echo(f"organisation {org_id}: {name}")


@org.command("vet")
@click.argument("name")
@click.pass_context
@friendly
def org_vet(ctx: click.Context, name: str) -> None:
    """Mark a pending organisation as vetted."""
    app = _accord(ctx)
    with app.db.write() as conn:
        app.members.set_vetted(conn, OPERATOR, app.members.org_id(conn, name), True)
    click.echo(f"{name} is vetted")


@org.command("list")
@click.pass_context
@friendly
def org_list(ctx: click.Context) -> None:
    app = _accord(ctx)
    with app.db.read() as conn:
        for o in app.members.list_orgs(conn):
            status = "vetted" if o["vetted"] else "pending"
            click.echo(f"{o['id']:>4}  {o['country']}  {o['sector']:<16} {status:<8} {o['name']}")


@main.group()
def user() -> None:
    """Users."""


@user.command("add")
@click.argument("email")
@click.option("--org", "org_name", required=True)
@click.option("--role", required=True, type=click.Choice(["org-admin", "analyst", "reader"]))
@click.option("--name", default="")
@click.option("--language", default="en")
@click.option("--platform-admin", is_flag=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.pass_context
@friendly
def user_add(
    ctx: click.Context,
    email: str,
    org_name: str,
    role: str,
    name: str,
    language: str,
    platform_admin: bool,
    password_stdin: bool,
) -> None:
    app = _accord(ctx)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with app.db.write() as conn:
        org_id = app.members.org_id(conn, org_name)
        user_id = app.members.add_user(
            conn,
            OPERATOR,
            email,
            org_id,
            role,
            name=name,
            language=language,
            platform_admin=platform_admin,
            password=password,
        )
    click.echo(f"user {user_id}: {email} ({role} in {org_name})")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("email")
@click.option("--org", "org_name", help="Organisation the token acts for (default: the user's first).")
@click.option(
    "--expires", type=int, help="Days until it expires (default: ACCORD_TOKEN_DEFAULT_DAYS; 0: never)."
)
@click.option(
    "--scopes", help="Comma-separated: intel:read,intel:write,members:admin (default: all of the role)."
)
@click.option(
    "--collections",
    help="Limit it to TAXII collections: COLLECTION-ID:r (read) or :rw (read-write), comma-separated.",
)
@click.option("--label", default="cli")
@click.pass_context
@friendly
def token_create(
    ctx: click.Context,
    email: str,
    org_name: str | None,
    expires: int | None,
    scopes: str | None,
    collections: str | None,
    label: str,
) -> None:
    """Print a new token alone on stdout (shown once; only its hash is stored)."""
    app = _accord(ctx)
    days = expires if expires is not None else app.settings.token_default_days
    with app.db.write() as conn:
        user_id = app.members.user_id(conn, email)
        org_id = app.members.org_id(conn, org_name) if org_name else None
        new = app.members.create_token(
            conn,
            OPERATOR,
            user_id,
            org_id,
            label=label,
            scopes=scopes,
            expires_days=days,
            collections=collections,
        )
    click.echo(new.token)


@main.group()
def group() -> None:
    """Sharing groups."""


@group.command("add")
@click.argument("name")
@click.option("--owner", required=True)
@click.option("--member", "members", multiple=True, required=True)
@click.pass_context
@friendly
def group_add(ctx: click.Context, name: str, owner: str, members: tuple[str, ...]) -> None:
    app = _accord(ctx)
    with app.db.write() as conn:
        owner_id = app.members.org_id(conn, owner)
        member_ids = [app.members.org_id(conn, m) for m in members]
        gid = app.members.add_group(conn, OPERATOR, name, owner_id, member_ids)
    click.echo(f"sharing group {gid}: {name} ({len(member_ids)} members)")


# --- intelligence ------------------------------------------------------------------------------------


def _progress_factory(label: str, total: int | None = None) -> Callable[[int], None] | None:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    task = bar.add_task(label, total=total)
    import atexit

    atexit.register(bar.stop)
    return lambda n: bar.advance(task, n)


def _column_map(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    from accord.ingest.tabular import parse_column_map

    return parse_column_map(text)


@main.command("import")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--as", "as_email", required=True, help="E-mail of the submitting user.")
@click.option("--org", "org_name", help="Organisation to submit for (default: the user's first).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["stix", "misp", "csv", "text"]),
    help="Input format (default: detected).",
)
@click.option(
    "--map", "column_map", help="CSV columns, e.g. value=1,type=2,first_seen=3 (default: the header)."
)
@click.option("--tlp", help="TLP for objects without a TLP marking: clear, green, amber, amber+strict, red.")
@click.option("--share-with", multiple=True, help="org:NAME, group:NAME or user:EMAIL (repeat).")
@click.pass_context
@friendly
def import_(
    ctx: click.Context,
    file: str,
    as_email: str,
    org_name: str | None,
    fmt: str | None,
    column_map: str | None,
    tlp: str | None,
    share_with: tuple[str, ...],
) -> None:
    """Import a file: STIX 2.x, MISP JSON, CSV or a text list of IOCs (all of it, or nothing).

    Prints the report (JSON): what was taken, what was skipped and why. If anything is refused,
    every problem is listed with its line, object and field, and nothing is stored. Interrupted,
    nothing is stored either: run it again. gzip files are read as they are. A big import into an
    empty SQLite store takes the database for itself when nothing else has it open (quicker: see
    `Database.write`); anything opening it meanwhile waits.
    """
    import shutil
    import tempfile

    app = _accord(ctx)
    default_tlp = TLP.parse(tlp) if tlp else None
    viewer = app.viewer(as_email, org_name)
    share = app.resolve_share(viewer, share_with)
    mapping = _column_map(column_map)
    if file == "-":
        with tempfile.NamedTemporaryFile(prefix="accord-stdin-") as tmp:
            shutil.copyfileobj(sys.stdin.buffer, tmp)
            tmp.flush()
            report = app.import_file(
                viewer, tmp.name, fmt=fmt, default_tlp=default_tlp, share=share, column_map=mapping,
                what="stdin", progress=_progress_factory("importing stdin", os.path.getsize(tmp.name)),
                exclusive=True,
            )  # fmt: skip
    else:
        if not os.path.isfile(file):
            _fail(f"no such file: {file}")
        progress = _progress_factory(f"importing {os.path.basename(file)}", os.path.getsize(file))
        report = app.import_file(
            viewer, file, fmt=fmt, default_tlp=default_tlp, share=share, column_map=mapping,
            progress=progress, exclusive=True,
        )  # fmt: skip
    click.echo(orjson.dumps(report.as_dict()).decode())


@main.command()
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.option("--type", "types", multiple=True, help="Only these STIX types (repeat).")
@click.pass_context
@friendly
def export(ctx: click.Context, as_email: str, org_name: str | None, types: tuple[str, ...]) -> None:
    """Print one STIX 2.1 bundle of every latest object the user may see."""
    import uuid

    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    out = sys.stdout.buffer
    out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":[')
    for i, obj in enumerate(app.export(viewer, list(types) or None)):
        out.write((b",\n" if i else b"\n") + orjson.dumps(obj))
    out.write(b"\n]}\n")
    out.flush()


@main.command()
@click.argument("values", nargs=-1, required=True)
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.pass_context
@friendly
def lookup(ctx: click.Context, values: tuple[str, ...], as_email: str, org_name: str | None) -> None:
    """For each value, print what is known that the user may see (JSON); '-' reads values from stdin."""
    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    wanted: list[str] = []
    for v in values:
        wanted.extend(line.strip() for line in sys.stdin if line.strip()) if v == "-" else wanted.append(v)
    click.echo(orjson.dumps(app.lookup(viewer, wanted), option=orjson.OPT_INDENT_2).decode())


# --- warninglists, overlaps, sightings, matching ---------------------------------------------------


@main.group()
def warninglist() -> None:
    """Known-benign values (MISP warninglist format): flagged at import, never matched."""


@warninglist.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.pass_context
@friendly
def warninglist_load(ctx: click.Context, directory: str) -> None:
    """Load every list.json below DIRECTORY (a list of the same name is replaced)."""
    from accord.intel.warninglists import load_dir

    app = _accord(ctx)
    lists, problems = load_dir(directory)
    for p in problems:
        click.echo(f"not loaded: {p}", err=True)
    if not lists:
        _fail(f"no usable warninglist under {directory}")
    counts = app.load_warninglists(lists)
    entries = sum(len(wl.entries) for wl in lists)
    click.echo(
        f"{len(lists)} warninglists ({entries} entries): "
        f"{counts['added']} added, {counts['replaced']} replaced"
        + (f"; {len(problems)} not loaded" if problems else "")
    )


@warninglist.command("list")
@click.pass_context
@friendly
def warninglist_list(ctx: click.Context) -> None:
    """The loaded warninglists."""
    for wl in _accord(ctx).warninglists():
        click.echo(f"{wl['name']}  [{wl['type']}, {wl['entries']} entries, {', '.join(wl['kinds'])}]")


@main.command()
@click.argument("target", nargs=-1, required=True)
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.pass_context
@friendly
def related(ctx: click.Context, target: tuple[str, ...], as_email: str, org_name: str | None) -> None:
    """What else is known about an object (give its id) or values, and by whom, as far as the
    user may see (JSON)."""
    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    if len(target) == 1 and "--" in target[0] and "://" not in target[0]:
        out = app.related(viewer, object_id=target[0])
    else:
        out = app.related(viewer, values=list(target))
    click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


@main.command()
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.option("--since", help="Only overlaps recorded since this time (ISO 8601).")
@click.option(
    "--all", "everyone", is_flag=True, help="Every visible overlap, not only those touching my org."
)
@click.option("--limit", default=100, show_default=True, type=int)
@click.pass_context
@friendly
def overlaps(
    ctx: click.Context, as_email: str, org_name: str | None, since: str | None, everyone: bool, limit: int
) -> None:
    """Recorded overlaps the user may see on both sides, newest first (JSON lines)."""
    from accord.intel.timestamps import parse_micros

    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    since_us = parse_micros(since) if since else 0
    for item in app.overlaps(viewer, since_us=since_us, limit=limit, mine=not everyone):
        click.echo(orjson.dumps(item).decode())


@main.group()
def sighting() -> None:
    """Report and read sightings of indicators."""


@sighting.command("add")
@click.argument("indicator_id")
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.option("--count", default=1, show_default=True, type=int)
@click.option("--first-seen", help="ISO 8601 time.")
@click.option("--last-seen", help="ISO 8601 time.")
@click.option("--description")
@click.option(
    "--tlp", default="amber", show_default=True, help="AMBER shares it with the indicator's producer."
)
@click.option("--share-with", multiple=True, help="org:NAME, group:NAME or user:EMAIL (repeat).")
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    help="Report what was done about a notified object (a take-down report) instead of a sighting.",
)
@click.pass_context
@friendly
def sighting_add(
    ctx: click.Context,
    indicator_id: str,
    as_email: str,
    org_name: str | None,
    count: int,
    first_seen: str | None,
    last_seen: str | None,
    description: str | None,
    tlp: str,
    share_with: tuple[str, ...],
    outcome: str | None,
) -> None:
    """Report that the user's organisation saw INDICATOR_ID, or with --outcome what it did about
    it (prints the STIX sighting)."""
    from accord.intel.timestamps import parse_micros

    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    obj = app.report_sighting(
        viewer, indicator_id, count=count,
        first_seen_us=parse_micros(first_seen) if first_seen else None,
        last_seen_us=parse_micros(last_seen) if last_seen else None,
        description=description, tlp=TLP.parse(tlp), share=app.resolve_share(viewer, share_with),
        outcome=outcome,
    )  # fmt: skip
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


@sighting.command("list")
@click.argument("indicator_id")
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.pass_context
@friendly
def sighting_list(ctx: click.Context, indicator_id: str, as_email: str, org_name: str | None) -> None:
    """Sightings of INDICATOR_ID the user may see."""
    app = _accord(ctx)
    click.echo(
        orjson.dumps(
            app.sightings(app.viewer(as_email, org_name), indicator_id), option=orjson.OPT_INDENT_2
        ).decode()
    )


@main.command()
@click.argument("indicator_id")
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.pass_context
@friendly
def score(ctx: click.Context, indicator_id: str, as_email: str, org_name: str | None) -> None:
    """An indicator's score (0-100) and how it was computed."""
    app = _accord(ctx)
    click.echo(
        orjson.dumps(
            app.score(app.viewer(as_email, org_name), indicator_id), option=orjson.OPT_INDENT_2
        ).decode()
    )


@main.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.option(
    "--format", "fmt", default="auto", show_default=True,
    type=click.Choice(["auto", "values", "csv", "zeek", "zeek-json", "text"]),
)  # fmt: skip
@click.pass_context
@friendly
def match(ctx: click.Context, file: str, as_email: str, org_name: str | None, fmt: str) -> None:
    """Check a log or a list of values against every indicator the user may see: one JSON line per
    hit on stdout (input, line, kind, indicator_id, ...), a summary on stderr."""
    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    out = sys.stdout.buffer
    if file == "-":
        summary = app.match(viewer, sys.stdin.buffer, fmt, out.write)
    else:
        if not os.path.isfile(file):
            _fail(f"no such file: {file}")
        with open(file, "rb") as fp:  # the log reader unpacks gzip itself
            summary = app.match(viewer, fp, fmt, out.write)
    out.flush()
    click.echo(orjson.dumps(summary).decode(), err=True)


# --- feeds, jobs and the worker ------------------------------------------------------------------------


@main.group("feed")
def feed_group() -> None:
    """Feeds imported on a schedule by the worker."""


@feed_group.command("add")
@click.argument("name")
@click.option(
    "--url", help="http(s) URL; private and local addresses are refused (ACCORD_FEED_ALLOW_NETWORKS)."
)
@click.option("--path", type=click.Path(dir_okay=False), help="A file on this server.")
@click.option("--format", "fmt", required=True, type=click.Choice(["stix", "misp", "csv", "text"]))
@click.option("--as", "as_email", required=True, help="The user it imports as.")
@click.option("--org", "org_name")
@click.option("--tlp", help="TLP for objects without a TLP marking.")
@click.option("--every", help="How often: 15m, 6h, 1d (default: only by `accord feed run`).")
@click.option("--map", "column_map", help="CSV columns, e.g. value=1,type=2.")
@click.option("--share-with", multiple=True, help="org:NAME, group:NAME or user:EMAIL (repeat).")
@click.pass_context
@friendly
def feed_add(
    ctx: click.Context,
    name: str,
    url: str | None,
    path: str | None,
    fmt: str,
    as_email: str,
    org_name: str | None,
    tlp: str | None,
    every: str | None,
    column_map: str | None,
    share_with: tuple[str, ...],
) -> None:
    """Add a feed."""
    from accord.feeds import service

    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    added = service.add(
        app, viewer, name, url=url, path=path, fmt=fmt, tlp=TLP.parse(tlp) if tlp else None,
        every_seconds=service.parse_interval(every) if every else None,
        column_map=_column_map(column_map), share=list(share_with),
    )  # fmt: skip
    click.echo(orjson.dumps(added).decode())


@feed_group.command("list")
@click.pass_context
@friendly
def feed_list(ctx: click.Context) -> None:
    """Every feed, when it runs next and how its last run ended."""
    from accord.feeds import service

    for f in service.list_feeds(_accord(ctx), OPERATOR):
        source = f["url"] or f["path"]
        every = f"every {f['every_seconds']}s" if f["every_seconds"] else "by hand"
        click.echo(
            f"{f['name']}  {f['format']}  {source}  as {f['as']} ({f['org']})  {every}"
            f"  next {f['next_run'] or '-'}  last {f['last_run'] or '-'} {f['last_status'] or ''}".rstrip()
        )


@feed_group.command("run")
@click.argument("name", required=False)
@click.pass_context
@friendly
def feed_run(ctx: click.Context, name: str | None) -> None:
    """Run NAME now; without NAME, every due feed (then exit)."""
    from accord.feeds import service

    app = _accord(ctx)
    if name is not None:
        report = service.run_feed(app, name)
        click.echo(orjson.dumps(report.as_dict()).decode())
        return
    ran = service.work(app, once=True)
    click.echo(f"{ran} job(s) run")


@main.command()
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.pass_context
@friendly
def worker(ctx: click.Context, once: bool) -> None:
    """Pull due feeds, run queued jobs, sync due peers, route what was stored and deliver due
    notifications, until stopped."""
    import time

    from accord.federation import service as federation
    from accord.feeds import service

    app = _accord(ctx)
    ran = synced = sent = 0
    try:
        while True:
            ran += service.work(app, once=True)
            for report in federation.sync_due(app):
                synced += 1
                if report.status != "ok":
                    click.echo(f"peer {report.peer}: {report.status}: {report.error}", err=True)
            app.route_new_objects()  # notifications for whatever was stored since the last run
            app.queue_digests()  # each subscription's digest of the day that has ended, once
            delivered = app.deliver_notifications()  # and those whose interval (or back-off) is over
            sent += delivered["sent"]
            for failure in delivered["errors"]:
                click.echo(f"notification {failure['ticket']} to {failure['recipient']}: {failure['error']}",
                           err=True)  # fmt: skip
            if once:
                break
            time.sleep(app.settings.worker_poll_seconds)
    except KeyboardInterrupt:
        return
    click.echo(f"{ran} job(s) run, {synced} peer sync(s), {sent} notification(s) sent")


# --- federation --------------------------------------------------------------------------------------


@main.group("peer")
def peer_group() -> None:
    """Peers: other Accord nodes or TAXII 2.1 servers this node exchanges intelligence with."""


@peer_group.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The peer's TAXII 2.1 API root URL (http or https).")
@click.option("--token", help="What we present to it: a token (Bearer), or USER:PASSWORD (HTTP Basic).")
@click.option("--push", is_flag=True, help="Also send it what its organisations may see.")
@click.option("--community", is_flag=True, help="It may receive TLP:GREEN and TLP:CLEAR.")
@click.option("--orgs", default="", help="Organisations it hosts, comma-separated (AMBER may be shared).")
@click.option("--every", help="Sync it every SECONDS (or 15m, 6h, 1d); default: only by `peer sync`.")
@click.option("--for", "for_org", help="Home organisation that objects without provenance are for.")
@click.option("--country", default="", help="ISO 3166 country of the peer node.")
@click.pass_context
@friendly
def peer_add(
    ctx: click.Context,
    name: str,
    url: str,
    token: str | None,
    push: bool,
    community: bool,
    orgs: str,
    every: str | None,
    for_org: str | None,
    country: str,
) -> None:
    """Add a peer; print the node token it must present to us (alone on stdout, shown once)."""
    from accord.federation import service
    from accord.feeds.service import parse_interval

    app = _accord(ctx)
    added, node_token = service.add(
        app, name, url=url, token=token, push=push, community=community,
        orgs=[o for o in orgs.split(",") if o.strip()], for_org=for_org, country=country,
        every_seconds=parse_interval(every) if every else None,
    )  # fmt: skip
    click.echo(f"peer {added['name']} added; give {added['name']}'s operator this node token:", err=True)
    click.echo(node_token)


@peer_group.command("token")
@click.argument("name")
@click.pass_context
@friendly
def peer_token(ctx: click.Context, name: str) -> None:
    """Print a new node token for NAME to present to us (the old one stops working)."""
    from accord.federation import service

    click.echo(service.new_token(_accord(ctx), name))


@peer_group.command("set")
@click.argument("name")
@click.option("--token", required=True, help="What we present to it from now on (empty: nothing).")
@click.pass_context
@friendly
def peer_set(ctx: click.Context, name: str, token: str) -> None:
    """Change what we present to NAME: the node token it printed when it added this node."""
    from accord.federation import service

    service.set_token(_accord(ctx), name, token.strip() or None)
    click.echo(f"peer {name}: token {'set' if token.strip() else 'cleared'}")


@peer_group.command("list")
@click.pass_context
@friendly
def peer_list(ctx: click.Context) -> None:
    """Every peer: URL, what is sent to it, schedule, the organisations it hosts."""
    from accord.federation import service

    for p in service.list_peers(_accord(ctx)):
        flags = ",".join(f for f in ("push" if p["push"] else "", "community" if p["community"] else "") if f)
        every = f"every {p['every_seconds']}s" if p["every_seconds"] else "by hand"
        hosted = ", ".join(p["orgs"]) or "-"
        extra = f"  for {p['for']}" if p["for"] else ""
        state = "" if p["enabled"] else "  disabled"
        click.echo(f"{p['name']}  {p['url']}  {flags or 'pull'}  {every}  orgs: {hosted}{extra}{state}")


@peer_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per peer.")
@click.pass_context
@friendly
def peer_status(ctx: click.Context, as_json: bool) -> None:
    """Per peer: last sync and its outcome, lag (now - newest date_added pulled), counts, last error."""
    from accord.federation import service

    for p in service.list_peers(_accord(ctx)):
        if as_json:
            click.echo(orjson.dumps(p).decode())
            continue
        lag = "-" if p["lag_seconds"] is None else f"{p['lag_seconds']:.0f}s"
        line = (
            f"{p['name']}  {p['last_status'] or 'never synced'}  last {p['last_sync'] or '-'}  lag {lag}"
            f"  pulled {p['pulled']}  pushed {p['pushed']}  refused {p['refused']}"
        )
        if p["last_error"]:
            line += f"  error: {p['last_error']}"
        click.echo(line)


@peer_group.command("sync")
@click.argument("name", required=False)
@click.pass_context
@friendly
def peer_sync(ctx: click.Context, name: str | None) -> None:
    """Sync NAME now (every enabled peer without NAME): one JSON report per peer; exit 1 if any failed."""
    from accord.federation import service

    app = _accord(ctx)
    reports = [service.sync(app, name)] if name else service.sync_all(app)
    for report in reports:
        click.echo(orjson.dumps(report.as_dict()).decode())
    failed = [r.peer for r in reports if r.status != "ok"]
    if failed:
        _fail(f"sync failed for {', '.join(failed)} (see `accord peer status`)")


@main.group("job")
def job_group() -> None:
    """Imports and feed runs, as recorded."""


@job_group.command("list")
@click.option("--limit", default=20, show_default=True, type=int)
@click.pass_context
@friendly
def job_list(ctx: click.Context, limit: int) -> None:
    """The newest jobs (JSON lines)."""
    from accord import jobs

    app = _accord(ctx)
    with app.db.read() as conn:
        for row in jobs.list_for(conn, OPERATOR, limit):
            click.echo(orjson.dumps(jobs.describe(row)).decode())


@main.group()
def policy() -> None:
    """The access policy."""


@policy.command("explain")
@click.argument("object_id")
@click.option("--as", "as_email", required=True)
@click.option("--org", "org_name")
@click.pass_context
@friendly
def policy_explain(ctx: click.Context, object_id: str, as_email: str, org_name: str | None) -> None:
    """Say which rule lets the user read each stored version of OBJECT_ID, or keeps it hidden."""
    from accord.intel.timestamps import format_micros
    from accord.policy import explain

    app = _accord(ctx)
    viewer = app.viewer(as_email, org_name)
    with app.db.read() as conn:
        decisions = explain(conn, app.policy, viewer, object_id)
        for d in decisions:
            producer = app.members.get_org(conn, d.producer_org_id)["name"]
            verdict = "VISIBLE" if d.visible else "HIDDEN "
            click.echo(f"{verdict} version {format_micros(d.modified_us)} from {producer}: {d.rule}")


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.pass_context
@friendly
def audit_verify(ctx: click.Context) -> None:
    """Check every row of the chain; name the first changed, inserted or removed one."""
    app = _accord(ctx)
    verdict = app.verify_audit()
    if not verdict.ok:
        _fail(f"audit log broken at row {verdict.broken_at}: {verdict.reason}")
    click.echo(f"audit log intact: {verdict.rows} rows, head {verdict.head}")


@main.command("settings")
def settings_cmd() -> None:
    """List every setting (environment variable, default, meaning)."""
    for name, default, help_text in describe():
        click.echo(f"{name:<28} {default:<14} {help_text}")


main.add_command(enrich)
main.add_command(contact)
main.add_command(route)


if __name__ == "__main__":
    main()
