"""Tool definitions, and language packs as data: complete, registered, and used without branches."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
from pathlib import Path

import pytest
from pydantic import ValidationError

from companion.languages import LANGUAGE_NAMES
from companion.profiles.models import CognitiveMode, Gender, MemoryType, PersonalInfo, Severity
from companion.prompt import LANGUAGES, TOOLS, build, lang, tool_definitions
from companion.prompt.lang import DATA_KEYS, DEFAULT_LANGUAGE, SECTION_NAMES, pack_for
from companion.prompt.render import inflect
from tests.prompt.factories import context

PROMPT_SRC = Path(__file__).parents[2] / "src" / "companion" / "prompt"


def test_tools_are_ga_function_definitions() -> None:
    assert [tool["name"] for tool in TOOLS] == [
        "remember",
        "alert_family",
        "play_music",
        "stop_music",
        "medication_taken",
        "snooze_reminder",
        "show_photos",
    ]
    for tool in TOOLS:
        assert tool["type"] == "function"
        assert set(tool) == {"type", "name", "description", "parameters"}
        params = tool["parameters"]
        assert params["type"] == "object"
        assert params["additionalProperties"] is False
        assert set(params.get("required", [])) <= set(params["properties"])
        json.dumps(tool)


def test_tool_enums_match_the_profile_schema() -> None:
    by_name = {tool["name"]: tool["parameters"]["properties"] for tool in TOOLS}
    assert by_name["remember"]["type"]["enum"] == [t.value for t in MemoryType]
    assert by_name["remember"]["importance"]["minimum"] == 1
    assert by_name["remember"]["importance"]["maximum"] == 5
    assert by_name["alert_family"]["severity"]["enum"] == [s.value for s in Severity]
    assert {"what_was_asked", "rule"} <= set(by_name["alert_family"])
    assert {"artist", "song", "genre", "reason"} == set(by_name["play_music"])
    assert by_name["stop_music"] == {}


def test_tool_definitions_are_independent_copies() -> None:
    copies = tool_definitions()
    assert copies == list(TOOLS)
    copies[0]["parameters"]["properties"]["type"]["enum"].append("hacked")
    copies[1]["name"] = "renamed"
    assert "hacked" not in TOOLS[0]["parameters"]["properties"]["type"]["enum"]
    assert TOOLS[1]["name"] == "alert_family"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_instructions_explain_every_tool(language: str) -> None:
    tools_text = next(s.text for s in build(context(language=language)).sections if s.name == "tools")
    for tool in TOOLS:
        if tool["name"] != "show_photos":  # only people with photos have it: their photos section says
            assert f"{tool['name']}:" in tools_text


def test_registry_and_default() -> None:
    assert DEFAULT_LANGUAGE == "he" == PersonalInfo(full_name="x", gender=Gender.MALE).language
    assert list(LANGUAGES) == list(LANGUAGE_NAMES)  # one pack per registered code, nothing else
    assert all(code == pack.code for code, pack in LANGUAGES.items())
    assert pack_for(None) is LANGUAGES["he"]
    assert pack_for("xx") is LANGUAGES["he"]
    assert pack_for("en") is LANGUAGES["en"]


def test_data_keys_are_fixed_ascii() -> None:
    assert all(re.fullmatch(r"[a-z_]+", key) for key in DATA_KEYS)
    assert len(set(DATA_KEYS)) == len(DATA_KEYS)


@pytest.mark.parametrize("code", sorted(LANGUAGES))
@pytest.mark.parametrize("gender", [Gender.MALE, Gender.FEMALE, None])
def test_every_template_resolves_for_every_gender(code: str, gender: Gender | None) -> None:
    pack = LANGUAGES[code]
    for field in dataclasses.fields(pack):
        value = getattr(pack, field.name)
        templates = value.values() if isinstance(value, dict) else [value]
        for template in templates:
            if isinstance(template, str):
                left = re.sub(r"\{[a-z_]+\}", "", inflect(template, gender))
                assert not set(left) & set("{}|"), (code, field.name, left)


def test_packs_describe_the_same_things() -> None:
    he, en = LANGUAGES["he"], LANGUAGES["en"]
    for field in (
        "titles",
        "labels",
        "genders",
        "cognitive_modes",
        "memory_types",
        "addressing",
        "cognitive",
    ):
        assert set(getattr(he, field)) == set(getattr(en, field)), field
    assert set(he.titles) == set(SECTION_NAMES)
    assert set(he.cognitive) == set(CognitiveMode)


def test_an_incomplete_pack_is_refused_at_creation() -> None:
    english = LANGUAGES["en"]
    titles = {k: v for k, v in english.titles.items() if k != "music"}
    with pytest.raises(ValueError, match="titles is missing"):
        dataclasses.replace(english, titles=titles)
    with pytest.raises(ValueError, match="uses «»"):
        dataclasses.replace(english, labels={**english.labels, "age": "age [years]"})
    with pytest.raises(ValueError, match="own guidance"):
        dataclasses.replace(english, cognitive=dict.fromkeys(CognitiveMode, "same"))


def test_the_profile_accepts_exactly_the_registered_languages() -> None:
    for code in LANGUAGE_NAMES:
        assert context(language=code).profile is not None
    with pytest.raises(ValidationError, match=r"supported codes: he \(Hebrew\), en \(English\)") as caught:
        context(language="fr")
    assert caught.value.errors()[0]["loc"] == ("personalInfo", "language")


def _pack_module(monkeypatch: pytest.MonkeyPatch, code: str, pack: object) -> None:
    """Stand-in for a new file ``lang/<code>.py`` defining ``PACK``."""
    module = types.ModuleType(f"{lang.__name__}.{code}")
    module.PACK = pack  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)


def test_a_new_language_is_one_pack_and_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    pirate = dataclasses.replace(LANGUAGES["en"], code="xp", persona="Ahoy, ye be a warm companion.")
    _pack_module(monkeypatch, "xp", pirate)  # the new pack module
    monkeypatch.setitem(LANGUAGE_NAMES, "xp", "Pirate")  # its line in the registry
    with pytest.raises(ValidationError):
        context(language="xq")
    monkeypatch.setitem(LANGUAGES, "xp", lang._load("xp"))  # what importing prompt.lang does per code
    result = build(context(language="xp"))  # the schema accepts it without any other change
    assert result.language == "xp"
    assert "Ahoy, ye be a warm companion." in result.text


def test_a_registered_code_without_its_pack_fails_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModuleNotFoundError):
        lang._load("xz")
    _pack_module(monkeypatch, "xy", LANGUAGES["en"])  # a pack whose code is not its module's
    with pytest.raises(RuntimeError, match="must define PACK"):
        lang._load("xy")


def test_builder_code_has_no_language_branches() -> None:
    for name in ("builder.py", "render.py"):
        source = (PROMPT_SRC / name).read_text(encoding="utf-8")
        assert not re.search(r"[\u0590-\u05ff]", source), f"{name} contains Hebrew text"
        assert not re.search(r"""==\s*["'](he|en)["']""", source), f"{name} branches on a language"
