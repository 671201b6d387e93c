"""The offline realtime engine: a protocol-faithful, deterministic stand-in for the realtime model.

It is NOT an AI. It speaks the OpenAI / Azure OpenAI Realtime wire protocol (GA and beta dialects)
strictly enough that passing against it means something, and answers by fixed rules grounded in
the session's *current* instructions, so that a profile change is visible in the very next reply.
Use it to try the product without credentials and to test the relay over a real WebSocket.

Layout: ``engine`` (sans-I/O core) over ``config``, ``items``, ``inputs``/``vad``/``audio``,
``responses`` and ``replies``/``smalltalk``; ``jobs`` is the work the core hands out; ``server`` is the
websocket shell, which runs those jobs with ``voice`` (espeak-ng) and ``hearing`` (pocketsphinx) when
installed; ``routes`` maps URLs to dialects; ``chat`` optionally words text replies through an
OpenAI-compatible chat server.
"""

from companion.localmodel.engine import Behaviour, EngineSession
from companion.localmodel.server import LocalModelServer, serve_forever

__all__ = ["Behaviour", "EngineSession", "LocalModelServer", "serve_forever"]
