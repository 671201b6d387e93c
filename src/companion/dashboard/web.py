"""The request side of every dashboard page: who is signed in, CSRF, language, rendering, errors.

Routes take a ``Page`` through one of three dependencies: ``PageDep`` (anyone), ``MemberDep`` (signed
in) and ``PostDep`` (signed in, and the form's CSRF token checked). ``DashboardRoute`` turns the
service's errors into HTML pages (a caregiver asking for another family's person sees the same 404
page as for a person who does not exist) and adds the security headers.

A request loads its session once (``get_page``), changes it in memory (drafts, flash, sign-in and out),
and ``DashboardRoute`` saves it before the answer leaves (``Page.finish``). When the sessions' store
(Redis, in cluster mode) cannot be reached, every dashboard page answers 503 "try again in a minute":
nobody is let in, and no lock-out is skipped, because the state that would decide it is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from companion.auth import Principal, Role
from companion.auth.shared_state import UNAVAILABLE_RETRY_S
from companion.dashboard.i18n import DIRECTION, pick_language, translate
from companion.dashboard.websessions import DashboardState, WebSession
from companion.errors import ClusterUnavailable, CompanionError, Forbidden, NotFound, TooManyAttempts
from companion.services import Services

log = logging.getLogger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]

PREFIX = "/dashboard"
SESSION_COOKIE = "companion_dashboard"
LANG_COOKIE = "companion_lang"
LANG_COOKIE_AGE_S = 365 * 24 * 3600  # a language choice is a preference, not a secret: keep it a year
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
FETCH_HEADER = "x-dashboard-fetch"  # the page's own script: answer 401 instead of a login redirect
SECURITY_HEADERS = {
    # No inline script or style anywhere, nothing from other origins: nothing here reaches the internet.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold health data: never keep them in a shared cache
}

env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | str | None) -> str:
    """A UTC time for people (the page's script shows it in the reader's own time zone)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


env.filters["when"] = when


class LoginRequired(Exception):
    """No signed-in session: pages redirect to the login form, fragments answer 401."""


class CsrfRejected(Forbidden):
    code = "csrf_rejected"


class DashboardOnlyForAdmins(Forbidden):
    code = "admin_only"


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard is a place to go back to (no open redirect)."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/people"


@dataclass
class Page:
    request: Request
    services: Services
    state: DashboardState
    session: WebSession | None
    lang: str
    form: FormData = field(default_factory=FormData)
    _cookie: WebSession | None = None
    _clear_cookie: bool = False
    _dropped: list[str] = field(default_factory=list)  # sessions this request ended, dropped in finish

    # ---- who and what --------------------------------------------------------------------------

    def t(self, key: str, **values: Any) -> str:
        return translate(self.lang, key, **values)

    @property
    def principal(self) -> Principal:
        if self.session is None or self.session.principal is None:
            raise LoginRequired
        return self.session.principal

    @property
    def is_admin(self) -> bool:
        return (
            self.session is not None
            and self.session.principal is not None
            and (self.session.principal.role is Role.ADMIN)
        )

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str)]

    async def person(self, user_id: str) -> None:
        """Raise NotFound (a 404 page) unless this caregiver may see ``user_id``."""
        await self.services.auth.require_user(self.principal, user_id)

    # ---- sessions ------------------------------------------------------------------------------

    def ensure_session(self) -> WebSession:
        """An anonymous session for the login forms' CSRF token."""
        if self.session is None:
            self.session = self.state.sessions.new()
            self._cookie = self.session
        return self.session

    def sign_in(self, principal: Principal, display_name: str) -> None:
        """A fresh id and CSRF token on every sign-in, so a session id planted before it is worthless."""
        if self.session is not None:
            self._dropped.append(self.session.id)
        self.session = self.state.sessions.new(principal, display_name)
        self._cookie = self.session

    def sign_out(self) -> None:
        if self.session is not None:
            self._dropped.append(self.session.id)
        self.session = None
        self._cookie = None
        self._clear_cookie = True

    async def draft(self, user_id: str) -> Any | None:
        """The session's wizard draft for ``user_id``, fetched from the store if need be."""
        if self.session is None:
            return None
        return await self.state.sessions.load_draft(self.session, user_id)

    async def finish(self) -> None:
        """Make this request's changes to its session durable (ended sessions go first)."""
        for session_id in self._dropped:
            await self.state.sessions.drop(session_id)
        self._dropped.clear()
        if self.session is not None:
            await self.state.sessions.save(self.session)

    def set_flash(self, **values: Any) -> None:
        if self.session is not None:
            self.session.flash = values

    def apply_cookies(self, response: Response) -> None:
        secure = self.request.url.scheme == "https"
        if self._cookie is not None:
            response.set_cookie(
                SESSION_COOKIE,
                self._cookie.id,
                path=PREFIX,
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        elif self._clear_cookie:
            response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=secure)

    # ---- answers -------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.ensure_session()
        html = env.get_template(template).render(
            t=self.t,
            lang=self.lang,
            dir=DIRECTION[self.lang],
            csrf=session.csrf,
            signed_in=session.signed_in,
            display_name=session.display_name,
            is_admin=self.is_admin,
            here=self.request.url.path,
            prefix=PREFIX,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)


async def _page(request: Request) -> Page:
    existing = getattr(request.state, "dashboard_page", None)
    if isinstance(existing, Page):
        return existing
    services: Services = request.app.state.services
    state: DashboardState = request.app.state.dashboard
    state.bind(services.redis)
    page = Page(
        request=request,
        services=services,
        state=state,
        session=await state.sessions.get(request.cookies.get(SESSION_COOKIE)),
        lang=pick_language(request.cookies.get(LANG_COOKIE)),
    )
    request.state.dashboard_page = page
    return page


async def get_page(request: Request) -> Page:
    return await _page(request)


async def signed_in(page: Annotated[Page, Depends(get_page)]) -> Page:
    """A signed-in session whose credential still stands: a token revoked or expired, or a caregiver
    account deleted, on any instance, signs the session out at its next request."""
    if page.session is None or page.session.principal is None:
        raise LoginRequired
    if not await page.services.auth.still_valid(page.session.principal):
        page.sign_out()
        raise LoginRequired
    return page


async def _check_csrf(page: Page) -> Page:
    page.form = await page.request.form()
    token = page.field(CSRF_FIELD) or page.request.headers.get(CSRF_HEADER)
    if page.session is None or not page.session.csrf_ok(token):
        raise CsrfRejected("The form's security token is missing or out of date (CSRF)")
    return page


async def posted(page: Annotated[Page, Depends(signed_in)]) -> Page:
    return await _check_csrf(page)


async def posted_anonymous(page: Annotated[Page, Depends(get_page)]) -> Page:
    return await _check_csrf(page)


async def admin_only(page: Annotated[Page, Depends(signed_in)]) -> Page:
    if not page.is_admin:
        raise DashboardOnlyForAdmins("This page is for administrators")
    return page


async def admin_posted(page: Annotated[Page, Depends(posted)]) -> Page:
    return await admin_only(page)


PageDep = Annotated[Page, Depends(get_page)]
MemberDep = Annotated[Page, Depends(signed_in)]
PostDep = Annotated[Page, Depends(posted)]
AnonPostDep = Annotated[Page, Depends(posted_anonymous)]
AdminDep = Annotated[Page, Depends(admin_only)]
AdminPostDep = Annotated[Page, Depends(admin_posted)]


async def _error_page(request: Request, exc: CompanionError) -> Response:
    page = await _page(request)
    if isinstance(exc, CsrfRejected):
        message = page.t("error.csrf")
    elif isinstance(exc, NotFound):
        message = page.t("error.not_found")
    elif isinstance(exc, DashboardOnlyForAdmins):
        message = page.t("error.admin_only")
    elif isinstance(exc, TooManyAttempts):
        message = exc.message
    else:
        if exc.status >= 500:
            log.warning("dashboard %s: %s", exc.code, exc.message)
        message = exc.message
    return page.render("error.html", status=exc.status, status_code=exc.status, message=message)


def _unavailable(request: Request) -> Response:
    """The 503 page, rendered without a session (the sessions' store is what is down)."""
    lang = pick_language(request.cookies.get(LANG_COOKIE))
    message = translate(lang, "error.unavailable")
    html = env.get_template("error.html").render(
        t=lambda key, **values: translate(lang, key, **values),
        lang=lang,
        dir=DIRECTION[lang],
        csrf="",
        signed_in=False,
        display_name="",
        is_admin=False,
        here=request.url.path,
        prefix=PREFIX,
        status_code=503,
        message=message,
    )
    return HTMLResponse(html, status_code=503, headers={"Retry-After": str(UNAVAILABLE_RETRY_S)})


def _login_redirect(request: Request) -> Response:
    if request.headers.get(FETCH_HEADER):
        return HTMLResponse("sign in again", status_code=401)
    if request.method != "GET":  # a form from a session that has ended: its data cannot be kept
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='/')}", status_code=303)


class DashboardRoute(APIRoute):
    """HTML error pages, the session cookie and security headers for every dashboard route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await self._answer(original, request)
                page = getattr(request.state, "dashboard_page", None)
                if isinstance(page, Page):
                    try:
                        await page.finish()
                    except ClusterUnavailable:
                        raise
                    except CompanionError as exc:  # saved, but something could not be kept (a draft)
                        response = await _error_page(request, exc)
                    page.apply_cookies(response)
            except ClusterUnavailable as exc:
                log.warning("dashboard: %s", exc.message)
                response = _unavailable(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        return handler

    @staticmethod
    async def _answer(original: Handler, request: Request) -> Response:
        try:
            return await original(request)
        except LoginRequired:
            return _login_redirect(request)
        except ClusterUnavailable:
            raise
        except CompanionError as exc:
            return await _error_page(request, exc)
        except RequestValidationError:  # a malformed path (e.g. a step that is not a number)
            return await _error_page(request, NotFound("No such page"))
