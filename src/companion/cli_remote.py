"""CLI commands that talk to a running server over HTTP: ``sessions`` and ``refresh``.

Messages are given in English and Hebrew, because the people who run them are often family members.
Exit codes: 0 success, 1 failure (refused, rejected, timed out, unreachable), 2 the choice is ambiguous.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from companion.settings import ClientSettings

REQUEST_TIMEOUT_S = 15.0  # a refresh waits up to the server's confirm timeout (3 s by default) per session

out = Console(soft_wrap=True)  # messages stay on one line, whatever the terminal width
err = Console(stderr=True, soft_wrap=True)


class RemoteError(Exception):
    pass


def _client() -> httpx.Client:
    settings = ClientSettings()
    headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"} if settings.token else {}
    return httpx.Client(base_url=settings.url, headers=headers, timeout=REQUEST_TIMEOUT_S)


def _call(method: str, path: str) -> dict[str, Any]:
    try:
        with _client() as client:
            response = client.request(method, path)
    except httpx.HTTPError as exc:
        raise RemoteError(
            f"Cannot reach the server at {ClientSettings().url} ({exc}) / אין חיבור לשרת"
        ) from exc
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"message": response.text}
    if response.status_code >= 400:
        raise RemoteError(f"{response.status_code}: {body.get('message', response.reason_phrase)}")
    return body


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _sessions_table(sessions: list[dict[str, Any]]) -> Table:
    table = Table(title="Live sessions / שיחות פעילות")
    for column in ("id", "user"):
        table.add_column(column, no_wrap=True)  # ids are copied from here into `companion refresh`
    for column in ("status", "started", "turns", "tokens", "version", "last refresh"):
        table.add_column(column)
    for s in sessions:
        last = s.get("lastRefresh") or {}
        last_text = f"{last.get('result')} {last.get('latencyMs')} ms" if last else "-"
        table.add_row(
            s["id"],
            s["userId"],
            s["status"],
            s["startedAt"][:19].replace("T", " "),
            str(s["turnCount"]),
            str(s["tokenUsage"]),
            str(s.get("instructionsVersion") or "-"),
            last_text,
        )
    return table


def sessions_command() -> None:
    """List live sessions (a table)."""
    try:
        sessions = _call("GET", "/realtime/sessions")["sessions"]
    except RemoteError as exc:
        raise _fail(str(exc)) from None
    if not sessions:
        out.print("No live sessions. / אין שיחות פעילות.")
        return
    out.print(_sessions_table(sessions))


def _report(result: dict[str, Any]) -> bool:
    if not result.get("success", False):
        err.print(f"[red]✗ {result.get('sessionId')}: {result.get('message')}[/red]")
        return False
    if result["result"] == "refreshed":
        out.print(
            f"✓ {result['sessionId']}: refreshed to {result['instructionsVersion']} "
            f"in {result['latencyMs']} ms / ההנחיות עודכנו ואושרו"
        )
    else:
        out.print(f"✓ {result['sessionId']}: already current / ההנחיות כבר מעודכנות")
    return True


def refresh_command(
    session_id: Annotated[
        str | None, typer.Argument(help="Session to refresh; omit when only one is live")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Refresh every session of this person")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Refresh every live session")] = False,
) -> None:
    """Refresh instructions from the profile, confirmed by the model."""
    try:
        if user:
            results = _call("POST", f"/realtime/users/{user}/refresh")["sessions"]
            if not results:
                out.print(f"No live sessions for {user}. / אין שיחות פעילות עבור {user}.")
                return
        elif session_id:
            try:
                results = [_call("POST", f"/realtime/session/{session_id}/refresh")]
            except RemoteError as exc:
                results = [{"success": False, "sessionId": session_id, "message": str(exc)}]
        else:
            live = [
                s
                for s in _call("GET", "/realtime/sessions")["sessions"]
                if s["status"] in ("active", "reconnecting")
            ]
            if not live:
                raise _fail("No live sessions to refresh. / אין שיחות פעילות לרענון.")
            if len(live) > 1 and not all_:
                out.print(_sessions_table(live))
                raise _fail(
                    f"{len(live)} live sessions: name one, or use --user or --all. "
                    f"/ יש {len(live)} שיחות פעילות: בחרו אחת, או השתמשו ב--user או ב--all.",
                    code=2,
                )
            results = []
            for s in live:
                try:
                    results.append(_call("POST", f"/realtime/session/{s['id']}/refresh"))
                except RemoteError as exc:
                    results.append({"success": False, "sessionId": s["id"], "message": str(exc)})
    except RemoteError as exc:
        raise _fail(str(exc)) from None
    ok = [_report(r) for r in results]
    if not all(ok):
        raise typer.Exit(1)
