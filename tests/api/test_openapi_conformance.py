"""The service answers as its API document says: a schemathesis run over every documented operation.

The app runs in-process (ASGI, no network) on a fresh SQLite file with one person seeded (three sections,
a memory, an alert, a paired tablet). Every operation gets generated requests, valid and invalid, as an
admin; a generated person id is swapped for the seeded person's half of the time (and an update of their
section says ``If-Match: *``), so that the routes' success answers are checked too and not only their
404s. A shorter second run does the same as a caregiver of that person. Any failure of the checks below
fails the test: a 500, a status, content type, body or header the document does not describe, an
invalid request accepted, a route that ignores its credentials, a method the document does not list
for a path answered otherwise than 405 with an ``Allow`` naming the listed ones.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import HealthCheck
from schemathesis.engine import Status, events
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

from companion.api.openapi import describe
from companion.api.users import USER_ID_PATTERN
from companion.app import create_app
from companion.auth.device_secrets import hash_pairing_code, hash_secret, new_device_id, new_device_secret
from companion.elder.device_auth import DEVICE_COOKIE
from companion.elder.music import track_id
from companion.services import Services
from companion.settings import Settings
from companion.store._engine import utcnow
from services import require_service
from tests.api import payloads
from tests.elder.audio_fixtures import music_track

ADMIN: Final = "conformance-admin-token"
PERSON: Final = "person-conformance-1"
SEEDED_ARTIST: Final = "Ofra Haza"  # the person's music allows her, and the library has one track of hers
TRACK_FILE: Final = "haza.ogg"
ERASURE: Final = "/api/users/{user_id}"  # DELETE erases a person and everything about them
TRACK_S: Final = 0.5  # the file route streams it whole on every request
# Generated cases per operation and mode (on top of the coverage phase's): ~40 operations take ~20 s.
MAX_EXAMPLES: Final = 5
# The whole run's work, in CPU seconds of this process (the app runs in it too): beyond it the run is
# too slow for the suite. CPU rather than wall time, so that a busy machine does not fail it.
RUN_BUDGET_S: Final = 60.0
CHECKS: Final = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",  # a method the document does not list for a path: 405 with Allow
    "allow_header_conformance",  # OPTIONS' Allow names every method the document lists
]
PHASES: Final = ["examples", "coverage", "fuzzing"]
# As a caregiver (403 on admin routes, 404 for other families' people): generated cases only, fewer.
CAREGIVER_PHASES: Final = ["fuzzing"]
CAREGIVER_EXAMPLES: Final = 3
# Mismatches the service has today, each tolerated narrowly and with why; remove an entry with its fix.
# (check, operation, words of the failure, why)
MUST_SUCCEED: Final = {
    "GET /api/users/{user_id}",
    "GET /api/users/{user_id}/profile",
    "PUT /api/users/{user_id}/safety",
    "POST /api/users/{user_id}/memories",
    "GET /api/users/{user_id}/instructions",
    "GET /api/users/{user_id}/alerts",
    "GET /api/users/{user_id}/devices",
    "POST /app/session",
    "GET /app/music/match",
    "GET /app/music/tracks/{track_id}",
}
_PERSON_ID = re.compile(USER_ID_PATTERN)
_COOKIE: list[str] = []  # the seeded tablet's, set when the app starts


async def _seed(services: Services) -> None:
    """The seeded person (three sections, a memory, an alert, a paired tablet), before any request."""
    await services.store.create_user(PERSON)
    for section, body in (
        ("profile", payloads.profile()),
        ("safety", payloads.safety()),
        ("music", payloads.music(SEEDED_ARTIST)),
    ):
        await services.profiles.save_section(PERSON, section, body, if_match=None)
    await services.profiles.add_memory(PERSON, {"text": "Grew up in Haifa"})
    await services.alerts.record(PERSON, {"severity": "high", "summary": "Said she fell"}, session_id=None)
    # Paired through the store: pairing's own route and its lock-out are tested in tests/elder.
    pairing = await services.devices.create_pairing(PERSON, created_by="conformance")
    secret = new_device_secret()
    redeemed = await services.store.redeem_pairing(
        hash_pairing_code(pairing.code),
        device_id=new_device_id(),
        label="tablet",
        secret_hash=hash_secret(secret),
        now=utcnow(),
    )
    assert redeemed.device is not None, redeemed.outcome
    _COOKIE.append(secret)


@dataclass
class Run:
    """What the run did and what it found."""

    operations: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)  # operations that answered 2xx at least once
    checked: set[str] = field(default_factory=set)  # the checks that ran
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stop: str = ""


def _towards_seeded_data(context: Any, case: Any) -> Any:
    """Half the valid person ids become the seeded person's, and half the track ids the library's one
    track's. The seeded person is never erased (schemathesis also reuses ids it saw in answers): the
    erasure route gets another id, so the rest of the run still has someone to work on."""
    parameters = case.path_parameters or {}
    user_id = parameters.get("user_id")
    erasing = case.method.upper() == "DELETE" and case.path == ERASURE
    if isinstance(user_id, str) and _PERSON_ID.fullmatch(user_id) and len(user_id) % 2 == 0:
        parameters["user_id"] = PERSON
    if erasing and parameters.get("user_id") == PERSON:
        parameters["user_id"] = PERSON + "-other"
    updating = case.method.upper() == "PUT" and parameters.get("user_id") == PERSON
    if updating and not any(name.lower() == "if-match" for name in case.headers or {}):
        case.headers = {**(case.headers or {}), "If-Match": "*"}
    track = parameters.get("track_id")
    if isinstance(track, str) and len(track) % 2 == 0:
        parameters["track_id"] = track_id(TRACK_FILE)
    return case


def _caregiver_token(app: FastAPI) -> str:
    """A caregiver of the seeded person, made through the API as a family's admin would."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    base = f"http://{asgi.HOST}/api"
    with asgi.get_client(app) as client:
        account = {"name": "Tiferet", "username": "tiferet", "password": "long-enough-1"}
        made = client.post(f"{base}/caregivers", json=account, headers=admin)
        assert made.status_code == 201, made.text
        caregiver = made.json()["id"]
        assigned = client.post(f"{base}/caregivers/{caregiver}/users/{PERSON}", headers=admin)
        assert assigned.status_code == 200, assigned.text
        token = client.post(
            f"{base}/tokens", json={"role": "caregiver", "caregiverId": caregiver}, headers=admin
        )
        assert token.status_code == 201, token.text
        value: str = token.json()["token"]
        return value


def run_against(app: FastAPI, *, token: str, phases: list[str], max_examples: int) -> Run:
    """Load the app's own document over ASGI and run schemathesis' engine on every operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # the first load starts the app
    schema.config.update(
        headers={"Authorization": f"Bearer {token}", "Cookie": f"{DEVICE_COOKIE}={_COOKIE[-1]}"},
        # A lone free-text path parameter has no invalid form: negative generation gives up on it.
        suppress_health_check=[HealthCheck.all],
    )
    schema.config.checks.update(included_check_names=CHECKS)
    schema.config.phases.update(phases=phases)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        deterministic=True,
        with_security_parameters=False,  # the run's own credentials, sent on every request
    )
    schema.hook("map_case")(_towards_seeded_data)
    run = Run()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.operations.add(event.recorder.label)
            run.cases += len(event.recorder.cases)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None and 200 <= interaction.response.status_code < 300:
                    run.succeeded.add(event.recorder.label)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    run.checked.add(check.name)
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        failure = check.failure_info.failure
                        run.failures.append(
                            f"{event.recorder.label} [{check.name}] {failure.title}: {failure.message}\n"
                            f"    {case.method} {case.formatted_path} body={case.body!r:.200}"
                        )
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            run.seconds = event.running_time
            run.stop = str(event.stop_reason)
    return run


# A schemathesis worker that dies leaves its operations untested without a failure: that fails too.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    if shutil.which("sox") is None:
        require_service("sox", "the conformance run plays a real audio file made with it")
    music = tmp_path / "music"
    music.mkdir()
    music_track(music / TRACK_FILE, SEEDED_ARTIST, "Im Nin'alu", seconds=TRACK_S)
    settings_ = Settings(data_dir=tmp_path / "data", admin_token=ADMIN, api_docs=True, music_dir=music)
    app = create_app(settings_, on_ready=_seed)
    describe(app)
    documented = {f"{m.upper()} {path}" for path, item in app.openapi()["paths"].items() for m in item}
    cpu_at_start = time.process_time()
    try:
        runs = [run_against(app, token=ADMIN, phases=PHASES, max_examples=MAX_EXAMPLES)]
        caregiver = _caregiver_token(app)
        runs.append(
            run_against(app, token=caregiver, phases=CAREGIVER_PHASES, max_examples=CAREGIVER_EXAMPLES)
        )
    finally:
        asgi.shutdown_lifespans()
    for who, run in zip(("admin", "caregiver"), runs, strict=True):
        print(
            f"conformance as {who}: {len(run.operations)} operations ({len(run.succeeded)} answered 2xx), "
            f"{run.cases} cases, {run.seconds:.1f} s"
        )
        found = sorted(set(run.failures)) + run.errors
        assert not found, f"{who}: {len(run.failures)} failures, {len(run.errors)} errors:\n" + "\n".join(
            found
        )
        assert run.stop == "completed"
        assert run.checked == set(CHECKS), sorted(set(CHECKS) - run.checked)
        assert run.operations == documented, sorted(documented ^ run.operations)
    # Success answers were checked too, for the seeded person's routes and the elder's music included.
    assert runs[0].succeeded >= MUST_SUCCEED, sorted(MUST_SUCCEED - runs[0].succeeded)
    assert "GET /api/users/{user_id}/profile" in runs[1].succeeded  # the caregiver's own person
    cpu_s = time.process_time() - cpu_at_start
    print(f"conformance: {sum(run.seconds for run in runs):.1f} s, {cpu_s:.1f} CPU seconds")
    assert cpu_s < RUN_BUDGET_S
