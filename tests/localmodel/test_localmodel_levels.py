"""Level, noise floor and the decoder's resampling, on synthetic audio: pure functions, no decoder."""

from __future__ import annotations

import array
import math
import random

import pytest
from lm_helpers import pcm

from companion.localmodel.audio import rms, samples, to_pcm
from companion.localmodel.crisis import crisis_severity
from companion.localmodel.decimate import to_16k
from companion.localmodel.levels import (
    FLOOR_NOISE_RMS,
    MAX_GAIN,
    MIN_VOICE_RMS,
    PEAK_LIMIT,
    TARGET_VOICE_RMS,
    RunningFloor,
    frame_levels,
    gain_for,
    noise_floor,
    normalised,
    voice_level,
)
from companion.localmodel.vad import EnergyVad, limits

RATE = 24_000


def noise(ms: int, level: float, seed: int = 7) -> bytes:
    """Steady room noise of RMS ``level`` (a fan, a fridge), 24 kHz PCM16."""
    rng = random.Random(seed)
    return to_pcm(array.array("h", (round(rng.gauss(0.0, level)) for _ in range(24 * ms))))


def mix(a: bytes, b: bytes) -> bytes:
    return to_pcm(array.array("h", (x + y for x, y in zip(samples(a), samples(b), strict=True))))


def phrase(amplitude: int) -> bytes:
    """A made-up "phrase": two syllables of tone with a short pause, in a second of silence each side."""
    syllables = pcm(300, amplitude, hz=220) + pcm(80) + pcm(400, amplitude // 2, hz=330)
    return pcm(1000) + syllables + pcm(1000)


def test_the_noise_floor_is_the_quiet_part_of_a_turn() -> None:
    turn = mix(phrase(8000), noise(2780, 50.0))
    levels = frame_levels(turn, RATE)
    assert len(levels) == 2780 // 20
    assert 40 < noise_floor(levels) < 60  # the fan, not the voice
    assert noise_floor([]) == 0.0
    voiced = voice_level(levels)
    assert voiced is not None and 3000 < voiced < 5000  # only the syllables: RMS of 5657 and 2828


def test_a_turn_of_room_noise_only_has_no_voice_and_is_not_decoded() -> None:
    assert voice_level(frame_levels(noise(2000, 400.0), RATE)) is None  # loud, but all room
    assert voice_level(frame_levels(pcm(2000), RATE)) is None  # digital silence
    assert normalised(noise(2000, 400.0), RATE) is None
    assert gain_for(pcm(2000, amplitude=round(MIN_VOICE_RMS)), RATE) is None  # RMS 71: under the minimum


@pytest.mark.parametrize("level", [0.15, 0.25, 0.5, 1.0])
def test_the_same_phrase_at_any_level_comes_out_at_one_voice_level(level: float) -> None:
    turn = phrase(round(8000 * level))
    out = normalised(turn, RATE)
    assert out is not None and len(out) == len(turn)
    voiced = voice_level(frame_levels(out, RATE))
    assert voiced is not None and voiced == pytest.approx(TARGET_VOICE_RMS, rel=0.02)


def test_the_gain_is_capped_and_never_clips() -> None:
    assert gain_for(phrase(100), RATE) is None  # syllables at RMS 71 and 35: under the minimum, no voice
    faintest = gain_for(phrase(160), RATE)  # the first syllable (RMS 113) is just voice: +29 dB
    assert faintest is not None and faintest == pytest.approx(
        TARGET_VOICE_RMS / (160 / math.sqrt(2)), rel=0.01
    )
    assert faintest <= MAX_GAIN
    spiky = pcm(1000) + pcm(300, 2000) + pcm(20, 30_000) + pcm(1000)  # quiet voice, one loud click
    gain = gain_for(spiky, RATE)
    assert gain is not None and gain * 30_000 <= PEAK_LIMIT + 1
    out = normalised(spiky, RATE)
    assert out is not None and max(abs(v) for v in samples(out)) < 32767


def test_the_floor_under_the_voice_is_faint_steady_and_the_same_every_time() -> None:
    turn = phrase(4000)
    first, second = normalised(turn, RATE), normalised(turn, RATE)
    assert first is not None and first == second  # deterministic: the same audio, the same bytes
    silence = first[: 900 * 48]  # the opening second was digital zero; now it is the floor
    assert rms(silence) == pytest.approx(FLOOR_NOISE_RMS, rel=0.1)
    assert min(samples(silence)) < 0 < max(samples(silence))


def test_the_running_floor_follows_the_room_not_the_words() -> None:
    floor = RunningFloor(window_ms=1000)
    assert floor.floor == 0.0  # unknown until a whole window is heard
    for level in [5000.0, 40.0, 6000.0] * 20:  # words with pauses, over a quiet room
        floor.add(level)
    assert floor.floor == 40.0
    for _ in range(50):  # a fan switched on: after a window, the fan is the room
        floor.add(700.0)
    assert floor.floor == 700.0


def test_vad_limits_follow_the_threshold() -> None:
    minimum, over = limits(0.5)
    assert minimum == pytest.approx(32768 * 10 ** (-46 / 20))  # -46 dBFS
    assert 20 * math.log10(over) == pytest.approx(12.0)
    assert limits(0.0)[0] < minimum < limits(1.0)[0]
    assert limits(0.0)[1] < over < limits(1.0)[1]


def test_vad_hears_a_quiet_voice_in_silence() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=300)
    events = vad.feed(pcm(500) + pcm(600, amplitude=600) + pcm(400))  # RMS 424: about -38 dBFS
    assert [(e.kind, e.at_ms) for e in events] == [("speech_started", 500), ("speech_stopped", 1400)]


def test_vad_takes_a_humming_room_for_the_room_and_hears_a_voice_over_it() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=300)
    hum = pcm(4000, amplitude=1000)  # RMS 707, louder than a quiet voice, steady for 4 s
    first = vad.feed(hum)
    assert [e.kind for e in first] == ["speech_started", "speech_stopped"]  # until the room is learned
    assert vad.feed(pcm(2000, amplitude=1000)) == []  # then it is the room
    voice = mix(pcm(600, amplitude=1000), pcm(600, amplitude=5000, hz=220))  # 5000 over the hum
    events = vad.feed(voice + pcm(1000, amplitude=1000))
    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]


def test_decimation_keeps_the_voice_band_and_removes_what_would_fold_into_it() -> None:
    def tone(hz: int) -> bytes:
        return pcm(500, amplitude=10_000, hz=hz)

    for hz in (300, 1000, 3000, 6000):
        out = to_16k(tone(hz))
        assert len(out) == len(tone(hz)) * 2 // 3
        assert rms(out[800:-800]) == pytest.approx(rms(tone(hz)), rel=0.02)
    for hz in (9500, 11_000):  # would fold to 6.5 and 5 kHz, where the decoder listens
        assert rms(to_16k(tone(hz))[800:-800]) < 0.002 * rms(tone(hz))
    assert to_16k(b"") == b""


INSTRUCTIONS = """## Safety
Crisis phrases [crisis_phrases]: «I fell», «I'm scared», «Help me»
If the person says one of the crisis phrases: call alert_family with severity critical (unless another
severity is listed next to the phrase).
- «I'm scared»; severity: «high»
- «Help me»; action: «call the neighbour»; severity: «critical»
Forbidden topics [forbidden_topics]: «politics»
- «I fell»; severity: «medium»
"""


def test_the_alerts_severity_is_the_one_listed_next_to_the_phrase() -> None:
    assert crisis_severity(INSTRUCTIONS, "I'm scared") == "high"
    assert crisis_severity(INSTRUCTIONS, "Help me") == "critical"
    # listed only after the crisis items ended (another data line): not this phrase's severity
    assert crisis_severity(INSTRUCTIONS, "I fell") == "critical"
    assert crisis_severity("no crisis phrases here", "I fell") == "critical"
    hebrew = "ביטויי מצוקה [crisis_phrases]: «אני מפחד»\nאם...\n- «אני מפחד»; חומרה: «high»\n"
    assert crisis_severity(hebrew, "אני מפחד") == "high"
