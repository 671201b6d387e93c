"""The optional chat-server path, with httpx's mock transport instead of a network."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from lm_helpers import EN_INSTRUCTIONS, MUSIC_TOOL, recv, recv_until, send, update, user_text
from websockets.asyncio.client import connect

from companion.localmodel import EngineSession, LocalModelServer
from companion.localmodel.chat import chat_reply
from companion.localmodel.replies import Reply, ReplyContext

Make = Callable[..., EngineSession]


def chat_client(answer: str | None, seen: list[dict[str, object]]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if answer is None:
            return httpx.Response(503)
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": answer}}]})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_chat_reply_sends_instructions_and_conversation() -> None:
    seen: list[dict[str, object]] = []
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    context = ReplyContext(instructions=EN_INSTRUCTIONS, items=items)
    async with chat_client("  Hi Ann, from the chat model.  ", seen) as client:
        reply = await chat_reply(client, "http://chat.test/v1/", "tiny", context)
    assert reply == Reply("text", "Hi Ann, from the chat model.")
    assert seen == [
        {
            "model": "tiny",
            "messages": [{"role": "system", "content": EN_INSTRUCTIONS}, {"role": "user", "content": "hi"}],
        }
    ]


async def test_chat_failure_falls_back_to_the_rules() -> None:
    context = ReplyContext(instructions=EN_INSTRUCTIONS, items=[])
    async with chat_client(None, []) as client:
        reply = await chat_reply(client, "http://chat.test/v1", "tiny", context)
    assert reply == Reply("text", "Hello Ann! How are you feeling today?")


def test_engine_waits_for_an_external_reply(make_engine: Make) -> None:
    engine = make_engine(external_replies=True)
    engine.receive_event(update(output_modalities=["text"]))
    assert [e["type"] for e in engine.receive_event({"type": "response.create"})] == ["response.created"]
    assert engine.drain() == []
    assert engine.awaiting_reply is not None
    engine.provide_reply(Reply("text", "Words from elsewhere."))
    assert engine.awaiting_reply is None
    done = next(e for e in engine.drain() if e["type"] == "response.output_text.done")
    assert done["text"] == "Words from elsewhere."


def test_tool_calls_stay_rule_based_with_external_replies(make_engine: Make) -> None:
    engine = make_engine(external_replies=True)
    engine.receive_event(update(instructions=EN_INSTRUCTIONS, tools=[MUSIC_TOOL]))
    engine.receive_event(user_text("play a song"))
    engine.receive_event({"type": "response.create"})
    assert engine.awaiting_reply is None
    assert any(e["type"] == "response.function_call_arguments.done" for e in engine.drain())


async def test_server_words_replies_through_the_chat_server() -> None:
    seen: list[dict[str, object]] = []
    async with LocalModelServer(chat_url="http://chat.test/v1", chat_model="tiny") as srv:
        assert srv.chat_client is not None
        await srv.chat_client.aclose()
        srv.chat_client = chat_client("Chatty hello.", seen)
        async with connect(srv.url + "?model=m") as ws:
            await recv(ws)
            await send(ws, update(output_modalities=["text"], instructions=EN_INSTRUCTIONS))
            await recv(ws)
            await send(ws, {"type": "response.create"})
            events = await recv_until(ws, "response.done")
    text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
    assert text == "Chatty hello."
    assert seen[0]["model"] == "tiny"
