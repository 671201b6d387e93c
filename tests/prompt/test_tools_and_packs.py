"""Tool definitions, and language packs as data: complete, registered, and used without branches."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from companion.profiles.models import CognitiveMode, Gender, MemoryType, Severity
from companion.prompt import LANGUAGES, TOOLS, build, tool_definitions
from companion.prompt.lang import DATA_KEYS, DEFAULT_LANGUAGE, SECTION_NAMES, LanguagePack, pack_for
from companion.prompt.render import inflect
from tests.prompt.factories import context

PROMPT_SRC = Path(__file__).parents[2] / "src" / "companion" / "prompt"


def test_tools_are_ga_function_definitions() -> None:
    assert [tool["name"] for tool in TOOLS] == ["remember", "alert_family", "play_music", "stop_music"]
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
        assert f"{tool['name']}:" in tools_text


def test_registry_and_default() -> None:
    assert DEFAULT_LANGUAGE == "he"
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


def test_a_new_language_is_one_pack_and_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    pirate = dataclasses.replace(LANGUAGES["en"], code="xp", persona="Ahoy, ye be a warm companion.")
    assert isinstance(pirate, LanguagePack)
    monkeypatch.setitem(LANGUAGES, "xp", pirate)
    ctx = context(language="en")
    profile = ctx.profile
    assert profile is not None
    info = profile.personal_info.model_construct(**{**dict(profile.personal_info), "language": "xp"})
    result = build(ctx.model_copy(update={"profile": profile.model_copy(update={"personal_info": info})}))
    assert result.language == "xp"
    assert "Ahoy, ye be a warm companion." in result.text


def test_builder_code_has_no_language_branches() -> None:
    for name in ("builder.py", "render.py"):
        source = (PROMPT_SRC / name).read_text(encoding="utf-8")
        assert not re.search(r"[\u0590-\u05ff]", source), f"{name} contains Hebrew text"
        assert not re.search(r"""==\s*["'](he|en)["']""", source), f"{name} branches on a language"
