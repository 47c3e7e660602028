"""`accord enrich`: who is responsible for IPs, domains and URLs, offline, one JSON object per line.

Registered in `accord.cli` with `main.add_command(enrich)`; it needs no database.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice
from typing import IO

import click
import orjson

from accord.errors import AccordError
from accord.routing.enrich import Enricher

__all__ = ["enrich"]

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
