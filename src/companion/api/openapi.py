"""The API document, complete: every request body, every error status, one error body.

FastAPI documents what a route declares in its signature. Two things escape it here: routes that read a
raw body because the service validates it (a section, whose model depends on the path; a memory), and
errors, which services raise as ``CompanionError`` and ``api/errors.py`` turns into answers, so no
route declares them. ``describe(app)`` makes ``app.openapi()`` (and ``/openapi.json``) start from
FastAPI's document and add, from the tables below:

- the error statuses a route can answer, decided by what the route is (``TRAIT_ERRORS``: a trait is
  read from the route's dependencies and parameters, so a new route is described without an entry
  here) plus the few an operation adds by what its service does (``OPERATION_ERRORS``);
- the body a raw route reads (``RAW_BODIES``), and one path per section for the routes whose path
  names a section (``CHOICE_PATHS``), each with that section's own body;
- the credentials: a bearer token, or the elder's paired-device cookie.

Every error answer has the one ``ErrorBody`` schema, also for 422 (FastAPI's own
``HTTPValidationError`` is not what the service answers).
"""

from __future__ import annotations

import copy
import enum
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from companion.api.deps import get_principal, get_services
from companion.api.device_auth import DEVICE_COOKIE, check_same_origin, require_device
from companion.api.errors import ErrorBody
from companion.profiles.models import SECTION_MODELS, MemoryEdit, MemoryInput, PhotoEdit

COMPONENTS: Final = "#/components/schemas/{model}"
_DESCRIBED: Final[weakref.WeakSet[FastAPI]] = weakref.WeakSet()  # apps whose openapi() is already ours
BEARER: Final = "bearerToken"
DEVICE: Final = "deviceCookie"


class Trait(enum.Enum):
    """What a route is, as far as the errors it can answer go."""

    BEARER = "takes a bearer token"
    DEVICE = "takes the paired-device cookie"
    SAME_ORIGIN = "refuses other sites' requests"
    ADDRESSED = "names a resource in its path"
    PARAMETERS = "has parameters or a body to validate"
    BODY = "reads a request body"
    IF_MATCH = "takes If-Match"
    STORE = "reads or writes the store"


# The statuses each trait brings, and why (the answers' descriptions in the document).
TRAIT_ERRORS: Final[Mapping[Trait, Mapping[int, str]]] = {
    Trait.BEARER: {
        401: "No token, or an unknown, revoked or expired one",
        403: "The token's role may not do this (a device token on a care-team route, a caregiver on an "
        "admin route)",
    },
    Trait.DEVICE: {401: "This browser is not paired, or its device was disconnected"},
    Trait.SAME_ORIGIN: {403: "The request comes from another site"},
    Trait.ADDRESSED: {404: "Nothing by that name, or not one the caller may see (the same answer)"},
    Trait.PARAMETERS: {422: "A parameter or the body is invalid; `field` names it"},
    Trait.BODY: {
        400: "The body cannot be read as JSON text, or Content-Length is not a number",
        413: "The body is over this address's size limit",
    },
    Trait.IF_MATCH: {
        412: "If-Match names a version that is no longer current; `currentVersion` says which is",
        428: "The document exists: an update must send If-Match with the version it was based on",
    },
    Trait.STORE: {503: "The database (with several instances, also Redis) cannot be reached; try again"},
}

OWNER_SILENT: Final = "The instance holding the conversation did not answer in time"
# What particular operations add, by what their service does: (method, path) -> {status: why}.
OPERATION_ERRORS: Final[Mapping[tuple[str, str], Mapping[int, str]]] = {
    ("post", "/api/users"): {
        404: "A caregiver named a person who exists but is not theirs",
        409: "A person with this id exists",
    },
    ("post", "/api/caregivers"): {
        404: "A person the new caregiver would look after does not exist",
        409: "The username is taken",
    },
    ("post", "/api/tokens"): {404: "The person or caregiver the token would speak for does not exist"},
    ("post", "/api/users/{user_id}/pairings"): {409: "No free pairing code right now; try again in a minute"},
    ("post", "/api/users/{user_id}/alerts/{alert_id}/acknowledge"): {
        412: "The alert kept changing under the update; try again"
    },
    ("post", "/api/users/{user_id}/alerts/{alert_id}/resolve"): {
        412: "The alert kept changing under the update; try again"
    },
    ("post", "/app/session"): {
        429: "This device started too many conversations in a minute; Retry-After says when to try again"
    },
    ("get", "/app/music/tracks/{track_id}"): {
        403: "The person's music section does not allow this track now"
    },
    ("post", "/api/users/{user_id}/photos"): {
        409: "The person's photo library is full (its quota of photos or bytes): nothing was stored",
        413: "A file over the size limit, or an image with too many pixels (a decompression bomb)",
        415: "A file that is not a JPEG, PNG, WebP or HEIC photo",
    },
    ("patch", "/api/users/{user_id}/photos/{photo_id}"): {
        412: "If-Match names a version of the photo that is no longer current"
    },
    ("get", "/realtime/session/{session_id}"): {504: OWNER_SILENT},
    ("delete", "/realtime/session/{session_id}"): {504: OWNER_SILENT},
    ("post", "/realtime/session/{session_id}/refresh"): {
        409: "The session has no open model connection",
        502: "The model refused the new instructions, or its connection ended",
        504: "The model did not confirm the new instructions in time; or " + OWNER_SILENT.lower(),
    },
}

# Routes that read a raw body (the service validates it): (method, path) -> the model it must match.
RAW_BODIES: Final[Mapping[tuple[str, str], type[BaseModel]]] = {
    ("post", "/api/users/{user_id}/memories"): MemoryInput,
    ("patch", "/api/users/{user_id}/photos/{photo_id}"): PhotoEdit,
    ("patch", "/api/users/{user_id}/memories/{memory_id}"): MemoryEdit,
}


@dataclass(frozen=True, slots=True)
class ChoicePath:
    """A path parameter with a closed set of values, each with its own model: the document gets one
    path per value (a body that depends on the path cannot be said otherwise precisely)."""

    parameter: str
    models: Mapping[str, type[BaseModel]]
    # (method, where the model goes): "body" for the request body, a property name for the 200 answer.
    uses: tuple[tuple[str, str], ...]


CHOICE_PATHS: Final[Mapping[str, ChoicePath]] = {
    "/api/users/{user_id}/{section}": ChoicePath(
        parameter="section", models=SECTION_MODELS, uses=(("put", "body"), ("put", "data"), ("get", "data"))
    ),
}

# Which dependency makes which trait (matched by identity, anywhere in a route's dependency tree).
DEPENDENCY_TRAITS: Final[Mapping[Callable[..., Any], Trait]] = {
    get_principal: Trait.BEARER,
    require_device: Trait.DEVICE,
    get_services: Trait.STORE,
}
SAME_ORIGIN_CHECKS: Final = frozenset({"_same_origin"})  # the elder's routes wrap check_same_origin

# The answer of a route that answers only for itself (/health's 503 is its own body, not an error).
OWN_ANSWERS: Final[Mapping[tuple[str, str], Mapping[int, str]]] = {
    ("get", "/health"): {503: "The store cannot be reached: the same body, with status degraded"},
}


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    """The route's own dependant and every dependency under it (their parameters are the route's)."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


def traits(route: RouteContext) -> set[Trait]:
    """Read from the route itself, so a route added later is described without an entry here."""
    found: set[Trait] = set()
    tree = list(_tree(route.dependant))
    for call in (d.call for d in tree[1:] if d.call is not None):
        if call in DEPENDENCY_TRAITS:
            found.add(DEPENDENCY_TRAITS[call])
        if call is check_same_origin or getattr(call, "__name__", "") in SAME_ORIGIN_CHECKS:
            found.add(Trait.SAME_ORIGIN)
    if Trait.DEVICE in found:
        found.add(Trait.STORE)  # the cookie is looked up in the store
    if any(d.path_params for d in tree):
        found.add(Trait.ADDRESSED)
    if any(d.body_params for d in tree):
        found.update((Trait.BODY, Trait.PARAMETERS))
    if any(d.path_params or d.query_params or d.header_params or d.cookie_params for d in tree):
        found.add(Trait.PARAMETERS)
    if any(p.alias.lower() == "if-match" for d in tree for p in d.header_params):
        found.add(Trait.IF_MATCH)
    return found


def error_statuses(route: RouteContext, method: str) -> dict[int, str]:
    """Every error status the operation can answer, with why."""
    statuses: dict[int, str] = {}
    for trait in sorted(traits(route), key=lambda t: t.name):
        for status, why in TRAIT_ERRORS[trait].items():
            statuses[status] = f"{statuses[status]}; {why}" if status in statuses else why
    statuses.update(OPERATION_ERRORS.get((method, route.path_format or ""), {}))
    return statuses


def _schemas(models: list[tuple[type[BaseModel], JsonSchemaMode]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    refs, top = models_json_schema(models, ref_template=COMPONENTS)
    return dict(refs), top.get("$defs", {})


def _merge_components(doc: dict[str, Any], defs: Mapping[str, Any]) -> None:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in defs.items():
        if name in schemas and schemas[name] != schema:
            raise RuntimeError(f"Two different schemas are both called {name} in the API document")
        schemas[name] = schema


def _json_body(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": dict(schema)}}}


def _add_errors(operation: dict[str, Any], statuses: Mapping[int, str], error: Mapping[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, why in sorted(statuses.items()):
        responses[str(status)] = {
            "description": why,
            "content": {"application/json": {"schema": dict(error)}},
        }


def _add_security(operation: dict[str, Any], found: set[Trait]) -> None:
    schemes: list[dict[str, list[str]]] = [{BEARER: []}] if Trait.BEARER in found else []
    schemes += [{DEVICE: []}] if Trait.DEVICE in found else []
    if schemes:
        operation["security"] = schemes


def _with_property(schema: Mapping[str, Any], name: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    """An answer's object schema with one property made exact (a route that returns a plain dict)."""
    exact = {key: value for key, value in schema.items() if key != "additionalProperties"}
    exact["type"] = "object"
    exact["properties"] = {**schema.get("properties", {}), name: dict(ref)}
    exact["required"] = sorted({*schema.get("required", []), name})
    return exact


def _split_choices(doc: dict[str, Any]) -> None:
    for template, choice in CHOICE_PATHS.items():
        item = doc["paths"].pop(template, None)
        if item is None:
            continue
        models = list(choice.models.values())
        refs, defs = _schemas([(m, "validation") for m in models] + [(m, "serialization") for m in models])
        _merge_components(doc, defs)
        for value, model in choice.models.items():
            path = template.replace("{" + choice.parameter + "}", value)
            copied = copy.deepcopy(item)
            for method, operation in copied.items():
                operation["operationId"] = f"{operation.get('operationId', method)}_{value}"
                operation["parameters"] = [
                    p for p in operation.get("parameters", []) if p.get("name") != choice.parameter
                ]
                for use_method, place in choice.uses:
                    if use_method != method:
                        continue
                    if place == "body":
                        operation["requestBody"] = _json_body(refs[(model, "validation")])
                        continue
                    ok = next(s for s in ("200", "201") if s in operation["responses"])
                    content = operation["responses"][ok].setdefault("content", {})
                    media = content.setdefault("application/json", {})
                    schema = media.get("schema", {})
                    media["schema"] = _with_property(schema, place, refs[(model, "serialization")])
            doc["paths"][path] = copied


def _fill_raw_bodies(doc: dict[str, Any]) -> None:
    if not RAW_BODIES:
        return
    refs, defs = _schemas([(model, "validation") for model in RAW_BODIES.values()])
    _merge_components(doc, defs)
    for (method, path), model in RAW_BODIES.items():
        operation = doc["paths"].get(path, {}).get(method)
        if operation is not None:
            operation["requestBody"] = _json_body(refs[(model, "validation")])


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _drop_unused(doc: dict[str, Any], names: tuple[str, ...]) -> None:
    """FastAPI's own 422 schemas, once no answer refers to them."""
    schemas = doc.get("components", {}).get("schemas", {})
    kept = {name: schema for name, schema in schemas.items() if name not in names}
    used = set(_refs(doc["paths"])) | set(_refs(kept))
    for name in names:
        if name not in used:
            schemas.pop(name, None)


def documented_routes(app: FastAPI) -> Iterator[RouteContext]:
    """The routes FastAPI puts in the document (included routers' routes with their prefixes)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def complete(app: FastAPI, doc: dict[str, Any]) -> dict[str, Any]:
    """Add to FastAPI's document ``doc`` what its routes cannot declare (see the module's docstring)."""
    error_refs, error_defs = _schemas([(ErrorBody, "serialization")])
    _merge_components(doc, error_defs)
    for route in documented_routes(app):
        found = traits(route)
        path = route.path_format or ""
        for method in sorted(m.lower() for m in route.methods or ()):
            operation = doc["paths"].get(path, {}).get(method)
            if operation is None:
                continue
            operation["responses"].pop("422", None)  # FastAPI's HTTPValidationError: not our body
            _add_errors(operation, error_statuses(route, method), error_refs[(ErrorBody, "serialization")])
            for status, why in OWN_ANSWERS.get((method, path), {}).items():
                ok = operation["responses"].get("200", {})
                operation["responses"][str(status)] = {**ok, "description": why}
            _add_security(operation, found)
    _fill_raw_bodies(doc)
    _split_choices(doc)
    doc["components"]["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer", "description": "An admin, caregiver or device token"},
        DEVICE: {
            "type": "apiKey",
            "in": "cookie",
            "name": DEVICE_COOKIE,
            "description": "The paired tablet's cookie, set by pairing at /app",
        },
    }
    _drop_unused(doc, ("HTTPValidationError", "ValidationError"))
    return doc


def describe(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) the complete document, built once. Calling it
    again on the same app changes nothing."""
    if app in _DESCRIBED:
        return
    _DESCRIBED.add(app)
    build = app.openapi
    built: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not built:
            app.openapi_schema = None  # FastAPI's cache, in case its document was asked for before
            built.append(complete(app, build()))
            app.openapi_schema = built[0]
        return built[0]

    app.openapi = openapi  # type: ignore[method-assign]
