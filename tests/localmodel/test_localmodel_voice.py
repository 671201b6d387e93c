"""The engine's voice and ears without sockets: resampling, WAV parsing, jobs, truncation of speech."""

from __future__ import annotations

import array
import base64
import itertools
import math
import struct
from collections.abc import Callable
from typing import Any

from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, MUSIC_TOOL, append, pcm, types, update

from companion.localmodel import EngineSession
from companion.localmodel.audio import BYTES_PER_MS, reply_audio_ms, rms, samples
from companion.localmodel.audio import resample as resample_pcm
from companion.localmodel.hearing import grammar, phrase_pattern
from companion.localmodel.jobs import voice_for
from companion.localmodel.voice import wav_pcm

Make = Callable[..., EngineSession]


def tone(rate: int, hz: float, ms: int, amplitude: int = 8000) -> bytes:
    count = rate * ms // 1000
    return array.array(
        "h", (round(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    ).tobytes()


def zero_crossings_hz(audio: bytes, rate: int) -> float:
    values = samples(audio)
    crossings = sum(1 for a, b in itertools.pairwise(values) if (a < 0) != (b < 0))
    return crossings / 2 / (len(values) / rate)


def test_resample_keeps_length_and_pitch() -> None:
    source = tone(22050, 440.0, 1000)
    up = resample_pcm(source, 22050, 24000)
    assert len(up) // 2 == 24000
    assert abs(zero_crossings_hz(up, 24000) - 440.0) < 5
    down = resample_pcm(up, 24000, 16000)
    assert len(down) // 2 == 16000
    assert abs(zero_crossings_hz(down, 16000) - 440.0) < 5
    assert abs(rms(down) - rms(source)) / rms(source) < 0.05  # loudness kept too
    assert resample_pcm(b"", 24000, 16000) == b""


def test_streamed_wav_header_is_read_to_the_end() -> None:
    """espeak-ng writes placeholder sizes when it streams; the data runs to the end of the output."""
    body = tone(22050, 300.0, 50)
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    wav = b"RIFF" + b"\xff\xff\xff\x7f" + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    wav += b"data" + b"\x00\xf0\xff\x7f" + body
    assert wav_pcm(wav) == (body, 22050)
    assert wav_pcm(b"not a wav") is None
    stereo = wav.replace(fmt, struct.pack("<HHIIHH", 1, 2, 22050, 88200, 4, 16))
    assert wav_pcm(stereo) is None


def test_voice_follows_the_language() -> None:
    assert voice_for(HE_INSTRUCTIONS, "בוקר טוב משה!") == "he"
    assert voice_for(EN_INSTRUCTIONS, "Good morning, Ann!") == "en-us"
    assert voice_for(HE_INSTRUCTIONS, "OK") == "en-us"  # Latin letters: a Hebrew voice would mangle them
    assert voice_for(HE_INSTRUCTIONS, "123") == "he"


def test_grammar_and_its_check_agree() -> None:
    text = grammar(("[please] play [me] music", "yes"))
    assert "public <utterance> = ( [please] play [me] music ) | ( yes );" in text
    accept = phrase_pattern(("[please] play [me] music", "yes"))
    for heard in ("play music", "please play me music", "yes"):
        assert accept.fullmatch(heard + " ")
    for heard in ("play", "please", "yes please", "play me"):
        assert not accept.fullmatch(heard + " ")


def spoken_turn(engine: EngineSession) -> tuple[str, list[dict[str, Any]]]:
    """Speech-like audio, then silence: the VAD commits it and a response waits for its transcript."""
    events = engine.receive_event(append(pcm(400, amplitude=8000) + pcm(600)))
    return events[0]["item_id"], events


def test_a_reply_waits_for_the_transcript_of_its_turn(make_engine: Make) -> None:
    engine = make_engine(hears=True)
    engine.receive_event(
        update(
            instructions=EN_INSTRUCTIONS,
            tools=[MUSIC_TOOL],
            output_modalities=["text"],
            audio={"input": {"transcription": {"model": "whisper-1"}}},
        )
    )
    item_id, events = spoken_turn(engine)
    assert types(events)[-1] == "response.created"
    assert engine.drain() == []  # no reply yet: the engine is still listening
    hearing, speech = engine.take_jobs()
    assert [job.item_id for job in hearing] == [item_id] and speech == []
    assert len(hearing[0].pcm) == 1000 * BYTES_PER_MS
    assert engine.take_jobs() == ([], [])  # handed out once
    done = engine.provide_transcript(item_id, "play me music")
    assert done[0] == {
        "type": "conversation.item.input_audio_transcription.delta",
        "event_id": done[0]["event_id"],
        "item_id": item_id,
        "content_index": 0,
        "delta": "play me music",
    }
    assert done[1]["type"] == "conversation.item.input_audio_transcription.completed"
    assert (done[1]["item_id"], done[1]["content_index"], done[1]["transcript"]) == (
        item_id,
        0,
        "play me music",
    )
    assert done[1]["usage"]["type"] == "tokens"
    assert engine.items[0]["content"][0]["transcript"] == "play me music"
    call = next(e for e in engine.drain() if e["type"] == "response.function_call_arguments.done")
    assert call["name"] == "play_music"


def test_no_transcription_events_unless_the_session_asks(make_engine: Make) -> None:
    engine = make_engine(hears=True)
    engine.receive_event(update(instructions=EN_INSTRUCTIONS, output_modalities=["text"]))
    item_id, _ = spoken_turn(engine)
    engine.take_jobs()
    assert engine.provide_transcript(item_id, None) == []  # nothing recognised, nothing asked
    done = next(e for e in engine.drain() if e["type"] == "response.output_text.done")
    assert done["text"] == "I heard you. Tell me more?"
    assert engine.items[0]["content"][0]["transcript"] is None


def test_unrecognised_speech_completes_with_an_empty_transcript(make_engine: Make) -> None:
    engine = make_engine(hears=True)
    engine.receive_event(update(output_modalities=["text"], audio={"input": {"transcription": {}}}))
    item_id, _ = spoken_turn(engine)
    engine.take_jobs()
    [completed] = engine.provide_transcript(item_id, None)
    assert completed["type"] == "conversation.item.input_audio_transcription.completed"
    assert completed["transcript"] == ""


def test_a_response_cancelled_while_listening_says_nothing(make_engine: Make) -> None:
    engine = make_engine(hears=True, speaks=True)
    item_id, _ = spoken_turn(engine)
    engine.take_jobs()
    engine.receive_event({"type": "response.cancel"})
    engine.provide_transcript(item_id, "hello")
    assert engine.take_jobs() == ([], [])  # nothing to speak
    events = engine.drain()
    assert types(events) == ["response.done", "rate_limits.updated"]
    assert events[0]["response"]["status"] == "cancelled"


def speak(engine: EngineSession, audio: bytes | None) -> list[dict[str, Any]]:
    engine.receive_event({"type": "response.create"})
    assert engine.drain() == []  # waiting for its voice
    _, [job] = engine.take_jobs()
    engine.provide_speech(job.response_id, audio)
    return engine.drain()


def test_speech_is_streamed_in_chunks_and_captions_follow_it(make_engine: Make) -> None:
    engine = make_engine(speaks=True)
    engine.receive_event(update(instructions=EN_INSTRUCTIONS))
    engine.receive_event({"type": "response.create"})
    _, [job] = engine.take_jobs()
    assert (job.voice, job.text) == ("en-us", "Hello Ann! How are you feeling today?")
    voice = tone(24000, 200.0, 2550)
    engine.provide_speech(job.response_id, voice)
    events = engine.drain()
    chunks = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
    assert b"".join(chunks) == voice
    assert [len(c) for c in chunks] == [4800] * 25 + [2400]
    kinds = [e["type"] for e in events if e["type"].endswith("delta")]
    first_word = kinds.index("response.output_audio_transcript.delta")
    last_word = len(kinds) - 1 - kinds[::-1].index("response.output_audio_transcript.delta")
    assert first_word < 2 and last_word > len(kinds) // 2  # words spread over the audio
    done = next(e for e in events if e["type"] == "response.done")
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] == 2550 // 50


def test_truncating_speech_uses_its_real_length(make_engine: Make) -> None:
    engine = make_engine(speaks=True)
    speak(engine, tone(24000, 200.0, 4200))  # longer than the tone's 3 s cap
    assistant = engine.items[-1]["id"]
    cut = {"type": "conversation.item.truncate", "item_id": assistant, "content_index": 0}
    [error] = engine.receive_event({**cut, "audio_end_ms": 4201})
    assert error["error"]["message"] == "Audio content of 4200ms is shorter than 4201ms."
    [truncated] = engine.receive_event({**cut, "audio_end_ms": 3900})
    assert truncated["type"] == "conversation.item.truncated"
    assert engine.items[-1]["content"][0]["transcript"] == ""


def test_failed_synthesis_falls_back_to_the_tone(make_engine: Make) -> None:
    engine = make_engine(speaks=True)
    events = speak(engine, None)
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == reply_audio_ms("Hello! How are you today?") * BYTES_PER_MS
    assert set(audio[:4800]) != {0}  # the tone, not silence


def test_text_replies_and_tool_calls_need_no_voice(make_engine: Make) -> None:
    engine = make_engine(speaks=True)
    engine.receive_event(update(output_modalities=["text"]))
    engine.receive_event({"type": "response.create"})
    assert engine.take_jobs() == ([], [])
    assert "response.done" in types(engine.drain())
