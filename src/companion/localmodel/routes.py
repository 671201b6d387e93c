"""Which URL speaks which dialect, decided from the handshake alone (pure, testable without sockets).

Mirrors the three real endpoint forms, including how each one fails:

===========================================================  =======  ===============================
request                                                      dialect  failure
===========================================================  =======  ===============================
``/v1/realtime?model=M``                                      GA
``/v1/realtime?model=M`` + ``OpenAI-Beta: realtime=v1``       beta     (the retired OpenAI beta door)
``/openai/v1/realtime?model=D``                               GA       ``api-version`` present -> 404;
                                                                       ``OpenAI-Beta`` -> 101, then
                                                                       error + close 4000
``/openai/realtime?api-version=V&deployment=D``               beta     no api-version, or ``model=``
                                                                       instead of deployment -> 404
anything else                                                                  404
===========================================================  =======  ===============================

A missing ``model`` is, as on the service, accepted at HTTP level and then answered with an
``error`` event (``missing_model``) and a close 4000 whose reason is ``<error type>.<code>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qs, urlsplit

from companion.realtime.protocol import Dialect

FATAL_CLOSE_CODE: Final = 4000  # what the service uses for request-shape failures after the upgrade


@dataclass(frozen=True, slots=True)
class Fatal:
    """An error event to send right after the upgrade, followed by a close (code, reason)."""

    code: str
    message: str
    close_code: int = FATAL_CLOSE_CODE

    @property
    def close_reason(self) -> str:
        return f"invalid_request_error.{self.code}"


@dataclass(frozen=True, slots=True)
class Route:
    dialect: Dialect
    model: str
    fatal: Fatal | None = None


def _beta_header(headers: Mapping[str, str]) -> bool:
    return "realtime=v1" in headers.get("OpenAI-Beta", "").replace(" ", "")


def resolve(path: str, headers: Mapping[str, str]) -> Route | HTTPStatus:
    """The route for a handshake, or the HTTP status to refuse it with."""
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    model = query.get("model", "")
    missing_model = Fatal(
        "missing_model",
        "You must provide a model parameter, for example ws://host/v1/realtime?model=gpt-realtime",
    )
    match parts.path:
        case "/v1/realtime":
            dialect: Dialect = "beta" if _beta_header(headers) else "ga"
            return Route(dialect, model, None if model else missing_model)
        case "/openai/v1/realtime":
            if "api-version" in query or "deployment" in query:
                return HTTPStatus.NOT_FOUND
            if _beta_header(headers):
                return Route(
                    "ga",
                    model,
                    Fatal(
                        "beta_api_shape_disabled",
                        "The beta API shape is disabled on this endpoint: "
                        "remove the 'OpenAI-Beta: realtime=v1' header.",
                    ),
                )
            return Route("ga", model, None if model else missing_model)
        case "/openai/realtime":
            if not query.get("api-version") or not query.get("deployment") or "model" in query:
                return HTTPStatus.NOT_FOUND
            return Route("beta", query["deployment"])
        case _:
            return HTTPStatus.NOT_FOUND
