"""The music guard judges names in the form the instructions show them to the model.

A caregiver may type a name with an invisible character (pasted from a web page) or with brackets or
quotes. The instructions show the sanitised name; the model asks for exactly that, and the guard must
recognise it — while a disliked artist stays refused however it was typed.
"""

from __future__ import annotations

import pytest

from companion.prompt import build
from companion.realtime.tools import check_music
from tests.prompt.factories import context, data_lines, music

ZWSP = "\u200b"
PREFERRED = [f"Ofra{ZWSP} Haza", "Arik [the singer] Einstein", "Shoshana «Shoshi» Damari"]
DISLIKED = [f"Eyal{ZWSP} Golan", "Naomi [Shemer]"]


def shown_to_model() -> dict[str, list[str]]:
    ctx = context().model_copy(update={"music": music(preferredArtists=PREFERRED, dislikedArtists=DISLIKED)})
    return data_lines(build(ctx).text)


def test_the_instructions_show_the_names_sanitised() -> None:
    shown = shown_to_model()
    assert shown["preferred_artists"] == [
        "Ofra Haza",
        "Arik (the singer) Einstein",
        "Shoshana ‹Shoshi› Damari",
    ]
    assert shown["disliked_artists"] == ["Eyal Golan", "Naomi (Shemer)"]


@pytest.mark.parametrize("index", range(len(PREFERRED)))
def test_a_preferred_artist_asked_for_as_shown_is_allowed(index: int) -> None:
    name = shown_to_model()["preferred_artists"][index]
    prefs = music(preferredArtists=PREFERRED, dislikedArtists=DISLIKED)
    for asked in (name, name.upper(), PREFERRED[index]):
        decision = check_music(prefs, {"artist": asked}, played=0)
        assert decision.allowed, (asked, decision.output)


@pytest.mark.parametrize("index", range(len(DISLIKED)))
def test_a_disliked_artist_is_refused_as_shown_and_as_stored(index: int) -> None:
    name = shown_to_model()["disliked_artists"][index]
    prefs = music(preferredArtists=[*PREFERRED, *DISLIKED], dislikedArtists=DISLIKED)
    for asked in (name, name.lower(), DISLIKED[index], DISLIKED[index].replace(ZWSP, "")):
        decision = check_music(prefs, {"artist": asked}, played=0)
        assert not decision.allowed, asked
        assert decision.output["error"] == "artist_disliked"


def test_the_refusal_offers_the_names_as_shown() -> None:
    prefs = music(preferredArtists=PREFERRED, dislikedArtists=DISLIKED)
    decision = check_music(prefs, {"artist": "Madonna"}, played=0)
    assert decision.output["mayPlay"]["artists"] == shown_to_model()["preferred_artists"]
