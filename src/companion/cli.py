"""The ``companion`` command: run the service, seed the demo, manage tokens and caregivers.

This module is the only place that prints; everything else logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from companion import gcpolicy
from companion.accounts import CLI_ACTOR, AccountService
from companion.api.limits import MAX_REQUEST_HEAD
from companion.auth import Role
from companion.auth.service import MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S
from companion.cli_remote import refresh_command, sessions_command
from companion.demo import DemoCredentials, seed_demo
from companion.edge import check_serving, uvicorn_options
from companion.errors import CompanionError, NotFound
from companion.services import Services
from companion.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from companion.importers.report import ImportReport

app = typer.Typer(
    help="Companion: realtime voice companions whose instructions follow the care profile.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(help="API tokens (each is printed once and stored only as a hash).")
caregivers_app = typer.Typer(help="Caregiver accounts.")
users_app = typer.Typer(help="People cared for.")
app.add_typer(tokens_app, name="tokens")
app.add_typer(caregivers_app, name="caregivers")
app.add_typer(users_app, name="users")
music_app = typer.Typer(help="The music library the elder's page plays from.")
app.add_typer(music_app, name="music")
import_app = typer.Typer(help="Bring people over from another system.")
app.add_typer(import_app, name="import")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _copyable(line: str) -> None:
    """A line meant to be copied into a shell: Rich neither breaks it with newlines at the terminal's
    width (the terminal wraps it softly, and a soft wrap copies as one line) nor reads it as markup."""
    out.print(line, soft_wrap=True, markup=False, highlight=False)


def _print_demo(creds: DemoCredentials, base_url: str | None = None) -> None:
    """The demo's tokens when this run issued them (the first); afterwards, where to find or make them.

    Tokens are printed as plain lines, not in the table: a table cell narrower than a token would cut or
    fold it. The "try it" hint is an ``export`` line and a short ``curl`` that uses the variable, each
    line short of 80 columns, so a narrow terminal cannot break what is pasted.
    """
    table = Table(title=f"Demo: {creds.user_id}", show_header=False)
    table.add_row("caregiver login", f"{creds.caregiver_username} / {creds.caregiver_password}")
    out.print(table)
    if creds.issued_tokens:
        _copyable(f"admin token: {creds.admin_token}")
        _copyable(f"caregiver token: {creds.caregiver_token}")
        _copyable(f"device token: {creds.device_token}")
    if not creds.issued_tokens:
        out.print(
            "The demo's tokens were shown when it was first seeded (they are stored only as hashes).\n"
            "List tokens: companion tokens list\n"
            "New caregiver token: companion tokens create --role caregiver "
            f"--caregiver {creds.caregiver_id}\n"
            f"New device token: companion tokens create --role device --user {creds.user_id}\n"
            "New admin token: companion tokens create --role admin --expires-in 86400\n"
            "Revoke one: companion tokens revoke ID",
            soft_wrap=True,
        )
    elif base_url:
        out.print("Try it (as the caregiver):", soft_wrap=True)
        _copyable(f"export COMPANION_TOKEN={creds.caregiver_token}")
        _copyable('curl -H "Authorization: Bearer $COMPANION_TOKEN" \\')
        _copyable(f"  {base_url}/api/users/{creds.user_id}")


def _with_services(action: Callable[[Services], Awaitable[T]]) -> T:
    """Run one action against the configured store, then close it; errors become a clear exit."""
    from companion.app import build_services

    async def main() -> T:
        services = await build_services(Settings())
        try:
            return await action(services)
        finally:
            await services.store.close()

    try:
        return asyncio.run(main())
    except CompanionError as exc:
        err.print(f"[red]error:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(1) from None


# On SIGTERM (a rolling restart) open connections get this long to finish; live conversations are closed
# with 1001 at once and their pages reconnect through the balancer, so waiting longer only delays it.
SHUTDOWN_GRACE_S: Final = 10


def server_config(
    asgi_app: ASGIApp, host: str, port: int, *, edge: Settings | None = None, **extra: Any
) -> uvicorn.Config:
    """The uvicorn settings ``serve`` runs with (tests and the bench start a server from the same
    function; ``extra`` are their own settings on top, such as a quieter log level).

    ``edge``: the service's settings for TLS and trusted proxies (``edge.uvicorn_options``). Without
    them, plain http and forwarded headers ignored from everyone.

    ``http="h11"``, not the faster httptools uvicorn picks when it is installed: uvicorn's httptools
    protocol has no limit at all on the request head, so a 50 MB header line or 20,000 headers were
    buffered and accepted. h11 refuses a head that grows past ``MAX_REQUEST_HEAD`` before it is complete
    (uvicorn answers "400 Invalid HTTP request received." and closes the connection; h11 has no 431), which
    bounds a long line and a flood of headers alike. Its cost, measured on /health over keep-alive: about
    0.2 to 1.3 ms more a request (2.5-3.2 ms against 1.8-2.3 ms), which this service's few caregivers and
    devices cannot notice. A head that arrives whole in one read passes h11's check: ``api/limits.py``
    refuses it (431) in the app, whichever implementation runs.

    ``limit_concurrency``: beyond ``COMPANION_MAX_CONNECTIONS`` open connections a request is answered
    503 at once (``settings.py`` says why the default).

    ``ws_per_message_deflate=False``: a browser offers permessage-deflate on ``/v1/realtime`` and uvicorn
    accepted it, giving every conversation a zlib compressor and decompressor (~90 KB of the service's
    memory, traced) and deflating every 20 ms audio frame on the relay's CPU, to save ~38% of the bytes of
    base64 speech (measured on synthesised speech; a real microphone's noise compresses less). The
    tablet's link carries ~85 KB/s each way uncompressed, which home Wi-Fi and 4G carry easily.
    """
    import uvicorn

    settings: dict[str, Any] = (
        dict(
            host=host,
            port=port,
            log_level="info",
            http="h11",
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
            # COMPANION_MAX_CONNECTIONS (settings.py says why its default); a test's own settings or none
            limit_concurrency=edge.max_connections
            if edge
            else Settings.model_fields["max_connections"].default,
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            proxy_headers=False,
        )
        | (uvicorn_options(edge) if edge is not None else {})
        | extra
    )
    return uvicorn.Config(asgi_app, **settings)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Seed the demo person; its tokens are printed on the first start only"),
    ] = False,
) -> None:
    """Run the service (HTTP API, live-session WebSocket, dashboard)."""
    from companion.app import create_app

    settings = _serving_settings(host, port)
    host, port = settings.host, settings.port
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def on_ready(services: Services) -> None:
        if demo:
            _print_demo(await seed_demo(services), f"http://{host}:{port}")
        gcpolicy.settle()

    import uvicorn

    uvicorn.Server(server_config(create_app(settings, on_ready=on_ready), host, port, edge=settings)).run()


def _serving_settings(host: str | None, port: int | None) -> Settings:
    """The settings with the command line's address, checked for serving: a clear exit otherwise."""
    try:
        settings = Settings()
        settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
        warnings = check_serving(settings)
    except ValidationError as exc:
        for problem in exc.errors():
            name = "COMPANION_" + "_".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            err.print(f"[red]error:[/red] {name + ': ' if problem['loc'] else ''}{message}", soft_wrap=True)
        raise typer.Exit(2) from None
    except CompanionError as exc:
        err.print(f"[red]error:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    return settings


@app.command("demo")
def demo_command() -> None:
    """Seed the demo person user-tiferet-001 and its caregiver; the first run prints its tokens."""
    _print_demo(_with_services(seed_demo))


@tokens_app.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="admin, caregiver or device")],
    user: Annotated[str | None, typer.Option(help="The user a device token speaks for")] = None,
    caregiver: Annotated[str | None, typer.Option(help="The caregiver id a caregiver token acts as")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the token by")] = None,
    expires_in: Annotated[
        int | None,
        typer.Option(
            "--expires-in",
            help=f"Seconds it stays valid ({MIN_TOKEN_LIFETIME_S}-{MAX_TOKEN_LIFETIME_S}); "
            "default by role: admin 30 days, caregiver 180, device 365",
        ),
    ] = None,
) -> None:
    """Create a token and print it once."""

    async def action(services: Services) -> str:
        token, _ = await AccountService.of(services).create_token(
            CLI_ACTOR, role, user_id=user, caregiver_id=caregiver, label=label, expires_in=expires_in
        )
        return token

    out.print(_with_services(action), soft_wrap=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token (never its secret): id, role, who it speaks for, when made, expires and was last used."""
    records = _with_services(lambda s: AccountService.of(s).list_tokens(CLI_ACTOR))
    table = Table(title="Tokens (times in UTC)")
    table.add_column("id", no_wrap=True)  # copied into "tokens revoke": never folded
    for column in ("role", "user", "caregiver", "label", "created", "expires", "last used"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            r.role,
            Text(r.user_id or "-"),
            Text(r.caregiver_id or "-"),
            Text(r.label or ""),
            _when(r.created_at),
            _when(r.expires_at),
            _when(r.last_used_at),
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (see tokens list)")]) -> None:
    """Revoke a token: it stops working at once. (A running service ends a device token's live
    conversations only when revoked through its API or dashboard.)"""
    _with_services(lambda s: AccountService.of(s).revoke_token(CLI_ACTOR, token_id))
    out.print(f"token {token_id} revoked")


@caregivers_app.command("create")
def caregivers_create(
    username: Annotated[str, typer.Option(help="Login name")],
    name: Annotated[str, typer.Option(help="Display name")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    user: Annotated[list[str] | None, typer.Option(help="Assign this person (repeatable)")] = None,
) -> None:
    """Create a caregiver account (the password is stored hashed with argon2), with its people at once:
    an unknown person leaves no account behind."""

    async def action(services: Services) -> str:
        try:
            record = await AccountService.of(services).create_caregiver(
                CLI_ACTOR, name=name, username=username, password=password, user_ids=user or []
            )
        except NotFound as exc:
            if exc.field != "user_id":
                raise
            for user_id in user or []:  # name the one that is missing
                if not await services.store.user_exists(user_id):
                    hint = f"create it with: companion users create {user_id}"
                    raise NotFound(f"User {user_id} not found ({hint})") from None
            raise
        return record.id

    out.print(f"caregiver {_with_services(action)} created")


@caregivers_app.command("delete")
def caregivers_delete(
    caregiver_id: Annotated[str, typer.Argument(help="The caregiver's id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a caregiver account with its tokens and assignments (the people stay). Audited."""
    if not yes:
        typer.confirm(f"Delete caregiver {caregiver_id} and its tokens?", abort=True)
    _with_services(lambda s: AccountService.of(s).erase_caregiver(CLI_ACTOR, caregiver_id))
    out.print(f"caregiver {caregiver_id} deleted")


@users_app.command("list")
def users_list() -> None:
    """List the people in the store."""
    for user_id in _with_services(lambda s: s.store.list_user_ids()):
        out.print(user_id)


@users_app.command("create")
def users_create(user_id: str) -> None:
    """Add a person (its profile is then filled through the API or the dashboard)."""
    _with_services(lambda s: AccountService.of(s).create_person(CLI_ACTOR, user_id))
    out.print(f"user {user_id} created")


@users_app.command("delete")
def users_delete(
    user_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a person and everything about them (profile, memories, alerts, reminders, devices, tokens),
    for good. Audited. A running service ends their live conversations only when erased through its API
    or dashboard."""
    if not yes:
        typer.confirm(f"Erase {user_id} and everything about them? This cannot be undone", abort=True)
    counts = _with_services(lambda s: AccountService.of(s).erase_person(CLI_ACTOR, user_id))
    erased = f"{counts.documents} documents, {counts.devices} devices, {counts.tokens} tokens"
    out.print(f"user {user_id} erased ({erased})")


@music_app.command("scan")
def music_scan(
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Folder to scan (default: COMPANION_MUSIC_DIR)")
    ] = None,
) -> None:
    """List the tracks the elder's page can play: artist, title, duration and file."""
    from companion.music import scan

    folder = folder or Settings().music_dir
    if folder is None:
        err.print("[red]error:[/red] no music folder: set COMPANION_MUSIC_DIR or pass --dir")
        raise typer.Exit(2)
    try:
        library = scan(folder)
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None
    table = Table(title=f"Music in {library.root}")
    for column in ("artist", "title", "duration", "file"):
        table.add_column(column, overflow="fold")
    for track in library.tracks:
        seconds = round(track.duration_s) if track.duration_s is not None else None
        duration = f"{seconds // 60}:{seconds % 60:02d}" if seconds is not None else "?"
        table.add_row(Text(track.artist or "(unknown)"), Text(track.title), duration, Text(track.relative))
    out.print(table)
    limit = " (stopped at the file limit)" if library.truncated else ""
    out.print(f"{len(library)} tracks, {library.skipped} files skipped (unreadable, or links out){limit}")


@import_app.command("never-alone")
def import_never_alone(
    cosmos_endpoint: Annotated[
        str | None,
        typer.Option(help="The seed system's Cosmos DB account, e.g. https://NAME.documents.azure.com"),
    ] = None,
    cosmos_key: Annotated[
        str | None,
        typer.Option(
            envvar="COMPANION_IMPORT_COSMOS_KEY", help="Its key (read-only is enough); or the env var"
        ),
    ] = None,
    database: Annotated[str, typer.Option(help="The database in that account")] = "never-alone",
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from-dir", help="An export instead: one file per container (JSON array or JSON Lines)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; write nothing")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Only this person (userId); repeatable")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the full report here (JSON)")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Let the source win where the family edited something here")
    ] = False,
    photos_dir: Annotated[
        Path | None,
        typer.Option("--photos-dir", help="A copy of the Blob container 'photos' ({userId}/{file})"),
    ] = None,
) -> None:
    """Bring people over from the seed system (Never-Alone): profiles, contacts, medications, routines,
    safety rules, music, memories, reminder history, incidents, conversations and photos (their files
    from --photos-dir). Safe to run again: only what changed at the source is written, and what the
    family edited here is kept."""
    from companion.importers.sources import CosmosSource, DirSource, PhotoFolder, Source

    if (cosmos_endpoint is None) == (from_dir is None):
        err.print("[red]error:[/red] give either --cosmos-endpoint (with --cosmos-key) or --from-dir")
        raise typer.Exit(2)
    if cosmos_endpoint is not None and not cosmos_key:
        err.print(
            "[red]error:[/red] --cosmos-key (or COMPANION_IMPORT_COSMOS_KEY) is needed with --cosmos-endpoint"
        )
        raise typer.Exit(2)
    if photos_dir is not None and not photos_dir.is_dir():
        err.print(f"[red]error:[/red] --photos-dir: {photos_dir} is not a folder", soft_wrap=True)
        raise typer.Exit(2)

    async def action(services: Services) -> ImportReport:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from companion.importers.runner import ImportRunner

        opened: Source = (
            CosmosSource(cosmos_endpoint, cosmos_key or "", database)
            if cosmos_endpoint
            else DirSource(from_dir)  # type: ignore[arg-type]
        )
        runner = ImportRunner(
            services.store,
            services.bus.publish,
            overwrite=overwrite,
            dry_run=dry_run,
            photos=services.photos,
            photo_files=PhotoFolder(photos_dir) if photos_dir is not None else None,
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=err, transient=True) as progress:
                task = progress.add_task("reading " + opened.name, total=None)

                def started(total: int) -> None:
                    progress.update(task, total=total, description="importing people")

                return await runner.run(
                    opened, only=only or [], on_start=started, on_person=lambda _: progress.advance(task)
                )
        finally:
            await opened.close()

    result = _with_services(action)
    _print_import(result, photos_dir)
    if report is not None:
        report.write_text(json.dumps(result.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.print(f"report written to {report}", soft_wrap=True)
    if result.failed or result.photos_failed:
        raise typer.Exit(1)


MISSING_PHOTOS_SHOWN: Final = 20  # named on the terminal; the report names every one


def _print_import(result: ImportReport, photos_dir: Path | None) -> None:
    totals = result.totals()
    title = "Import (dry run: nothing written)" if result.dry_run else "Import"
    table = Table(title=f"{title} from {result.source}")
    table.add_column("")
    table.add_column("count", justify="right")
    for label, key in (
        ("people", "people"),
        ("  new here", "created"),
        ("  updated", "updated"),
        ("  unchanged", "unchanged"),
        ("  failed", "failed"),
        ("changes", "changes"),
        ("conflicts (kept here)" if not result.overwrite else "conflicts (overwritten)", "conflicts"),
        ("fields not carried", "notCarried"),
        ("photos without a file", "photosMissing"),
        ("photos refused", "photosFailed"),
    ):
        table.add_row(label, str(totals[key]))
    for kind, count in result.by_kind().items():
        table.add_row(f"  {kind} changes", str(count))
    out.print(table)
    for person in result.failed:
        err.print(f"[red]failed:[/red] {person.user_id}: {person.error}", soft_wrap=True, markup=False)
    for person in result.people:
        for item, why, overwritten in person.conflicts:
            what = "overwritten" if overwritten else "kept here"
            out.print(f"conflict: {person.user_id} {item}: {why} ({what})", soft_wrap=True, markup=False)
    for name, why in sorted(result.skipped_containers.items()):
        out.print(f"not imported: container {name}: {why}", soft_wrap=True, markup=False)
    for user_id in result.missing:
        out.print(f"not found at the source: {user_id}", soft_wrap=True, markup=False)
    for user_id, photo in result.photos_failed:
        line = f"photo refused: {user_id} {photo.file} ({photo.source}): {photo.error}"
        err.print(line, soft_wrap=True, markup=False)
    missing = result.photos_missing
    for user_id, photo in missing[:MISSING_PHOTOS_SHOWN]:
        out.print(f"photo without a file: {user_id} {photo.file}", soft_wrap=True, markup=False)
    if len(missing) > MISSING_PHOTOS_SHOWN:
        out.print(f"... and {len(missing) - MISSING_PHOTOS_SHOWN} more photos without a file (see --report)")
    if missing:
        where = f"not found under {photos_dir}" if photos_dir is not None else "give --photos-dir"
        out.print(
            f"photos without a file: {where} (a copy of the Blob container 'photos'); "
            "run the import again with it to bring them",
            soft_wrap=True,
            markup=False,
        )


app.command("sessions")(sessions_command)
app.command("refresh")(refresh_command)


@app.command("local-model")
def local_model(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 9000,
) -> None:
    """Run the offline realtime engine on its own (not an AI: deterministic rules for trying and testing)."""
    from companion.localmodel.server import serve_forever

    settings = Settings()
    gcpolicy.settle()
    out.print(f"offline realtime engine on ws://{host}:{port}/v1/realtime (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_forever(
                host, port, max_session_s=settings.local_max_session_s, chat_url=settings.local_chat_url
            )
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
