"""The UI's languages: catalogues, negotiation, direction, and localised dates and numbers.

A language is one file, `accord/ui/locale/<id>/LC_MESSAGES/messages.po`, where `<id>` is a Babel
locale identifier (`en`, `fr`, `zh_Hans` …). Catalogues are compiled in memory when the app starts,
so no `.mo` file is built or committed. Direction (`ltr`/`rtl`), the page's `lang` tag and each
language's name come from Babel's locale data, never from a list kept here. Adding an eighth
language is adding one catalogue (`python -m accord.ui.catalogues new xx`, then translate it).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "en"
LANGUAGE_COOKIE = "accord_lang"  # an anonymous visitor's pick (the log-in page); users keep theirs


def N_(message: str) -> str:
    """Marks a string in Python code for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Language:
    id: str  # Babel identifier and catalogue folder: "zh_Hans"
    locale: Locale
    translations: Translations

    @property
    def tag(self) -> str:
        """BCP 47 tag for `<html lang>`: "zh-Hans"."""
        return self.id.replace("_", "-")

    @property
    def direction(self) -> str:
        return "rtl" if self.locale.text_direction == "rtl" else "ltr"

    @property
    def name(self) -> str:
        """The language's name in itself ("العربية", "中文 (简体)")."""
        return str(self.locale.get_display_name(self.locale) or self.id)

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def when(self, value: str | int | datetime | None) -> str:
        """A timestamp (STIX text, epoch microseconds or datetime) as this language writes it, UTC."""
        moment = to_datetime(value)
        if moment is None:
            return "" if value is None else str(value)
        return str(format_datetime(moment, "medium", tzinfo=UTC, locale=self.locale)) + " UTC"

    def number(self, value: int | float | None) -> str:
        return "" if value is None else str(format_decimal(value, locale=self.locale))


def to_datetime(value: str | int | datetime | None) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1_000_000, UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def catalogue_path(lang_id: str, base: Path = LOCALE_DIR) -> Path:
    return base / lang_id / "LC_MESSAGES" / "messages.po"


def load_language(lang_id: str, base: Path = LOCALE_DIR) -> Language:
    locale = Locale.parse(lang_id)
    with open(catalogue_path(lang_id, base), "rb") as fp:
        catalog = read_po(fp, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Language(lang_id, locale, Translations(compiled))


class Languages:
    """Every catalogue under the locale folder, and how a request's language is chosen."""

    def __init__(self, base: Path = LOCALE_DIR) -> None:
        ids = sorted(p.parent.parent.name for p in base.glob("*/LC_MESSAGES/messages.po"))
        if DEFAULT not in ids:
            raise RuntimeError(f"no {DEFAULT} catalogue under {base}")
        self.by_id = {i: load_language(i, base) for i in ids}
        self.default = self.by_id[DEFAULT]

    def __iter__(self) -> Iterator[Language]:
        return iter(self.by_id.values())

    def match(self, wanted: str | None) -> Language | None:
        """The catalogue for a language tag ("zh-CN", "zh", "ar_EG", "zh_Hans"), or None: the exact
        identifier, then Babel's negotiation, then the same language in the same script (so zh-CN
        finds zh_Hans but zh-TW, written in the traditional script, does not)."""
        if not wanted:
            return None
        wanted = wanted.strip().replace("-", "_")
        if wanted in self.by_id:
            return self.by_id[wanted]
        found = negotiate_locale([wanted], list(self.by_id))
        if found:
            return self.by_id[found]
        try:
            parsed = Locale.parse(wanted)
        except (ValueError, UnknownLocaleError):
            return None
        for lang in self.by_id.values():
            same_script = lang.locale.script is None or parsed.script in (None, lang.locale.script)
            if lang.locale.language == parsed.language and same_script:
                return lang
        return None

    def negotiate(self, accept_language: str) -> Language:
        """The best catalogue for an Accept-Language header, in the client's order of preference."""
        for tag in _preferences(accept_language):
            lang = self.match(tag)
            if lang is not None:
                return lang
        return self.default

    def stored_code(self, lang: Language) -> str:
        """What `user_account.language` keeps: the bare language ("zh") while it names one
        catalogue alone (the codes the API and CLI use), else the full identifier."""
        same = [i for i in self.by_id.values() if i.locale.language == lang.locale.language]
        return lang.locale.language if len(same) == 1 else lang.id


def _preferences(header: str) -> list[str]:
    """Language tags of an Accept-Language header, most wanted first (q=0 means not wanted)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > 0:
            weighted.append((-q, position, tag))
    return [tag for _q, _pos, tag in sorted(weighted)]
