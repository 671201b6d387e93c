"""Optional: word text replies through an OpenAI-compatible Chat Completions server.

Set ``COMPANION_LOCAL_CHAT_URL`` (for example a local llama.cpp or Ollama ``.../v1``) to let the
offline engine answer free conversation with a real language model while keeping everything else
(tool calls, greetings grounded in instructions, audio, event order) deterministic. Not used by
the tests; any failure falls back to the rule-based reply, so a flaky chat server never breaks a call.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import httpx

from companion.localmodel.items import item_text
from companion.localmodel.replies import Reply, ReplyContext, plan_reply

log = logging.getLogger(__name__)

CHAT_TIMEOUT_S: Final = 20.0  # a small local model on a CPU can take this long for a short reply


async def chat_reply(client: httpx.AsyncClient, base_url: str, model: str, context: ReplyContext) -> Reply:
    """The reply text from ``{base_url}/chat/completions``; the rule-based reply if that fails."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": context.instructions}]
    for item in context.items:
        if item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            messages.append({"role": item["role"], "content": item_text(item)})
    try:
        response = await client.post(
            base_url.rstrip("/") + "/chat/completions",
            json={"model": model, "messages": messages},
            timeout=CHAT_TIMEOUT_S,
        )
        response.raise_for_status()
        text = str(response.json()["choices"][0]["message"]["content"]).strip()
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        log.warning("chat server failed (%s); using the rule-based reply", exc)
        return plan_reply(context)
    return Reply("text", text) if text else plan_reply(context)
