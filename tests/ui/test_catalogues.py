"""Every UI string is translated in every language; directions and names come from Babel; an
eighth language is one catalogue; Accept-Language is read in the client's order."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from accord.errors import InvalidInput
from accord.members.model import OPERATOR
from accord.ui import catalogues
from accord.ui.i18n import LOCALE_DIR, Languages

SEVEN = {"en", "fr", "es", "ar", "zh_Hans", "ru", "pt"}


@pytest.fixture(scope="module")
def template() -> catalogues.Catalog:
    return catalogues.extract()


def test_extraction_finds_template_and_python_strings(template: catalogues.Catalog) -> None:
    ids = {m.id for m in template if m.id}
    assert "Log in" in ids  # templates
    assert "Check values" in ids  # N_() in render.NAV
    assert "Too many failed log-ins. Try again later." in ids  # N_() in ui/auth.py
    assert len(ids) > 100


@pytest.mark.parametrize("lang", sorted(SEVEN))
def test_every_string_is_translated(template: catalogues.Catalog, lang: str) -> None:
    assert catalogues.missing(lang, template) == []


def test_the_seven_languages_are_there() -> None:
    assert set(catalogues.languages()) == SEVEN


def test_direction_tag_and_name_come_from_babel() -> None:
    languages = Languages()
    assert {lang.id: lang.direction for lang in languages} == {
        lang: ("rtl" if lang == "ar" else "ltr") for lang in SEVEN
    }
    assert languages.by_id["zh_Hans"].tag == "zh-Hans"
    assert languages.by_id["ar"].name == "العربية"
    assert languages.by_id["ru"].name == "русский"
    assert languages.by_id["fr"].gettext("Log in") == "Se connecter"


def test_accept_language_in_the_clients_order() -> None:
    languages = Languages()
    assert languages.negotiate("fr;q=0.1, ru;q=0.9, *;q=0.5").id == "ru"
    assert languages.negotiate("de, pt-BR;q=0.8").id == "pt"
    assert languages.negotiate("zh-Hans-CN").id == "zh_Hans"
    assert languages.negotiate("zh-TW").id == "en"  # traditional script: no catalogue yet
    assert languages.negotiate("fr;q=0, es").id == "es"
    assert languages.negotiate("garbage;;;,q=x").id == "en"
    assert languages.stored_code(languages.by_id["zh_Hans"]) == "zh"
    assert languages.match("zh") is languages.by_id["zh_Hans"]


def test_numbers_and_dates_in_each_language() -> None:
    languages = Languages()
    assert languages.by_id["fr"].number(1234567.5) == "1\u202f234\u202f567,5"
    assert languages.by_id["en"].number(1234567.5) == "1,234,567.5"
    assert languages.by_id["ru"].when("2024-05-01T10:00:00Z").startswith("1 мая 2024")
    assert languages.by_id["en"].when("not a time") == "not a time"


def test_an_eighth_language_is_one_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locale = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale)
    monkeypatch.setattr(catalogues, "LOCALE", locale)
    catalogues.new("de")
    template = catalogues.extract()
    assert len(catalogues.missing("de", template)) == len([m for m in template if m.id])
    catalog = catalogues.read("de")
    for msg in catalog:
        if msg.id:
            msg.string = f"[de] {msg.id}"
    catalogues.write("de", catalog)
    assert catalogues.missing("de", template) == []
    languages = Languages(locale)
    assert languages.negotiate("de-AT, en;q=0.5").gettext("Log in") == "[de] Log in"
    assert languages.by_id["de"].name == "Deutsch"


@pytest.mark.store
def test_a_user_may_prefer_any_language_cldr_knows_not_only_the_seven_catalogues(alliance: Any) -> None:
    """Adding an eighth catalogue needs no code change: users may already prefer it."""
    org = alliance.org("CERT-DE", country="DE")
    members = alliance.app.members
    with alliance.app.db.write() as conn:
        members.add_user(conn, OPERATOR, "de@cert.example", org, "analyst", language="de")
        with pytest.raises(InvalidInput, match="not a language tag") as refused:
            members.add_user(conn, OPERATOR, "x@cert.example", org, "analyst", language="klingon")
    assert refused.value.where == {"field": "language"}


def test_update_adds_a_new_string_untranslated_except_in_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """English is filled in from the source string; every other catalogue (French comes after English)
    gets the string empty, so the test above fails until someone translates it."""
    locale = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale)
    monkeypatch.setattr(catalogues, "LOCALE", locale)
    for lang in ("en", "fr"):
        catalog = catalogues.read(lang)
        del catalog["Log in"]
        catalogues.write(lang, catalog)
    catalogues.update()
    assert catalogues.read("en")["Log in"].string == "Log in"
    assert not catalogues.read("fr")["Log in"].string
    assert "fr: no translation for 'Log in'" in catalogues.missing("fr")
    assert catalogues.read("ru")["Log in"].string not in ("", "Log in")  # untouched where it was
