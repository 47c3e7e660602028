"""Keep the UI's catalogues in step with its strings.

    python -m accord.ui.catalogues update   # new strings (untranslated) into every catalogue, gone ones out
    python -m accord.ui.catalogues new xx   # start a catalogue for language xx (a Babel identifier)
    python -m accord.ui.catalogues check    # list what is missing; exit 1 if anything is

Strings are found with Babel's extractors: `_("…")` in templates, `N_("…")`/`_("…")` in Python.
English is a catalogue like the others (its translations are the source strings), so a wording
can change without touching code. tests/ui/test_catalogues.py runs `missing()` for every language.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from accord import __version__
from accord.ui.i18n import DEFAULT, LOCALE_DIR, catalogue_path

UI_DIR = Path(__file__).resolve().parent
LOCALE = LOCALE_DIR  # where the catalogues are (tests point it elsewhere)
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    """Every translatable string of the UI, with where it is used."""
    template = Catalog(project="Accord", version=__version__, charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(UI_DIR), METHODS, OPTIONS, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE.glob("*/LC_MESSAGES/messages.po"))


def read(lang: str) -> Catalog:
    with open(catalogue_path(lang, LOCALE), "rb") as fp:
        return read_po(fp, locale=Locale.parse(lang))


def write(lang: str, catalog: Catalog) -> None:
    path = catalogue_path(lang, LOCALE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fp:
        write_po(fp, catalog, width=100, omit_header=False, sort_output=True, include_previous=False)


def missing(lang: str, template: Catalog | None = None) -> list[str]:
    """The problems of one catalogue: strings without a translation (or only a fuzzy one), and
    translations whose placeholders differ from the string's."""
    template = template or extract()
    catalog = read(lang)
    problems: list[str] = []
    for msg in template:
        if not msg.id:
            continue
        have = catalog.get(msg.id, context=msg.context)
        if (
            have is None
            or have.fuzzy
            or not have.string
            or (isinstance(have.string, tuple) and not all(have.string))
        ):
            problems.append(f"{lang}: no translation for {msg.id!r}")
    for msg, errors in catalog.check():
        problems += [f"{lang}: {msg.id!r}: {e}" for e in errors]
    return problems


def update() -> None:
    template = extract()
    for lang in languages():
        catalog = read(lang)
        # A copy each: Catalog.update adds the template's own Message objects, so filling in English
        # below would otherwise fill every catalogue read after it with English too.
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if lang == DEFAULT:
            for msg in catalog:
                if msg.id and not msg.string:
                    msg.string = msg.id
        write(lang, catalog)


def new(lang: str) -> Path:
    Locale.parse(lang)  # refuses what Babel does not know
    if catalogue_path(lang, LOCALE).exists():
        raise SystemExit(f"{catalogue_path(lang, LOCALE)} exists already")
    catalog = Catalog(
        locale=Locale.parse(lang), project="Accord", version=__version__, charset="utf-8", fuzzy=False,
        copyright_holder="the Accord contributors", msgid_bugs_address="",
    )  # fmt: skip
    catalog.update(extract(), no_fuzzy_matching=True)
    write(lang, catalog)
    return catalogue_path(lang, LOCALE)


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["new"] and len(argv) == 2:
        print(new(argv[1]))
        return 0
    if argv[:1] == ["check"]:
        template = extract()
        problems = [p for lang in languages() for p in missing(lang, template)]
        print("\n".join(problems) or "every catalogue is complete")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
