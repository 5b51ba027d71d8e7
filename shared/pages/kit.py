"""The page machinery every service's pages share: rendering with the layout, security headers, the creator's
session cookie, CSRF checks on every form, and error pages instead of JSON or stack traces.

Cookies: the session cookie holds the creator's token (a dev token locally, an Identity Platform ID
token in production) and is verified on every request exactly as the API verifies a Bearer token.
It is HttpOnly and SameSite=Lax, and Secure outside local. CSRF: every form carries the value of a
random cookie (double submit), and a POST whose Origin names another site is refused.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from werkzeug.wrappers import Request, Response

from shared.auth import CreatorAuth
from shared.clock import Clock
from shared.errors import DomainError
from shared.logs import trace_id
from shared.pages import times
from shared.web import ApiError, Handler, Route, route, status_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "flo_session"
CSRF_COOKIE = "flo_csrf"
CSRF_FIELD = "csrf"
SIGN_IN_PATH = "/sign-in"
_CSRF_ENVIRON = "flo.csrf"
_TEMPLATES = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


class SignInNeeded(Exception):
    """A creator page was asked for without a valid session: the answer is the sign-in page."""


class PageError(Exception):
    """What a page tells a person instead of the page they asked for."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    env.globals.update(
        when=times.when,
        span=times.span,
        clock=times.clock,
        long_day=times.long_day,
        short_day=times.short_day,
        zone_label=times.zone_label,
    )
    return env


_ENV = _environment()


def safe_next(value: str | None, default: str) -> str:
    """Only a path on this site may follow sign-in (no open redirect to another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


@dataclass(frozen=True)
class PageKit:
    base_url: str
    local: bool
    auth: CreatorAuth
    clock: Clock
    form_origins: tuple[str, ...] = ()
    """Sites a form may be redirected to (the providers' consent pages, for Connect)."""

    # ---- responses -------------------------------------------------------------------------------------

    def csp(self, scripts: Iterable[str] = (), connect: Iterable[str] = (), frames: Iterable[str] = ()) -> str:
        """Scripts and styles only from this site (no inline code), forms only to this site and the consent pages."""
        script_src = " ".join(["'self'", *scripts])
        connect_src = " ".join(["'self'", *connect])
        frame_src = " ".join(frames) or "'none'"
        form_action = " ".join(["'self'", *self.form_origins])
        return (
            f"default-src 'none'; script-src {script_src}; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect_src}; frame-src {frame_src}; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )

    def secure(self, response: Response, csp: str | None = None) -> Response:
        """Headers every page answer carries. Referrer-Policy same-origin: no other site ever sees a page's URL (a
        manage link is the fan's key), while our own forms still carry their Origin (no-referrer would make it null).
        """
        response.headers["Content-Security-Policy"] = csp or self.csp()
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    def render(
        self, request: Request, template: str, status: int = 200, csp: str | None = None, **context: Any
    ) -> Response:
        token = self.csrf_token(request)
        html = _ENV.get_template(template).render(
            csrf=token,
            csrf_field=CSRF_FIELD,
            local=self.local,
            request_path=request.path,
            **context,
        )
        response = Response(html, status=status, mimetype="text/html")
        if request.cookies.get(CSRF_COOKIE) != token:
            self._cookie(response, CSRF_COOKIE, token)
        return self.secure(response, csp)

    def redirect(self, location: str) -> Response:
        """303 See Other: the browser follows with a GET, so reloading never repeats a form."""
        return self.secure(Response(status=303, headers={"Location": location}))

    # ---- creator session -------------------------------------------------------------------------------

    def creator_id(self, request: Request) -> str:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInNeeded
        try:
            return self.auth.verify(token)
        except ApiError as exc:
            if exc.status == 401:
                raise SignInNeeded from None
            raise

    def sign_in(self, response: Response, token: str) -> Response:
        self._cookie(response, SESSION_COOKIE, token)
        return response

    def sign_out(self, response: Response) -> Response:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=not self.local, httponly=True, samesite="Lax")
        return response

    def _cookie(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, path="/", secure=not self.local, httponly=True, samesite="Lax")

    # ---- forms -----------------------------------------------------------------------------------------

    def csrf_token(self, request: Request) -> str:
        """The browser's CSRF value (made once per browser; the same for every form of one answer)."""
        token = request.environ.get(_CSRF_ENVIRON) or request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.environ[_CSRF_ENVIRON] = token
        return str(token)

    def check_form(self, request: Request) -> None:
        """A form POST must come from one of our pages: the same site, and the CSRF value of this browser."""
        origin = request.headers.get("Origin")
        ours = urlsplit(self.base_url)
        if origin and origin != f"{ours.scheme}://{ours.netloc}":
            raise PageError(403, "This form came from another site", "Open the page again and send the form from it.")
        sent = request.form.get(CSRF_FIELD, "")
        kept = request.cookies.get(CSRF_COOKIE, "")
        if not sent or not kept or not secrets.compare_digest(sent.encode(), kept.encode()):
            raise PageError(403, "This form has expired", "Open the page again and send the form from it.")

    # ---- handlers --------------------------------------------------------------------------------------

    def page(self, handler: Handler) -> Handler:
        """Wrap a page handler: sign-in when needed, a readable page for every error, never JSON or a trace."""

        @functools.wraps(handler)
        def wrapped(request: Request, **kwargs: str) -> Response:
            try:
                return handler(request, **kwargs)
            except SignInNeeded:
                return self.redirect(f"{SIGN_IN_PATH}?next={quote(request.full_path.rstrip('?'), safe='/')}")
            except PageError as exc:
                return self.error(request, exc.status, exc.title, exc.message)
            except ApiError as exc:
                return self.error(request, exc.status, "Something is not right", exc.message)
            except DomainError as exc:
                return self.error(request, status_of(exc), "Something is not right", exc.message)
            except Exception:
                log.exception("page failed", extra={"path": request.path, "trace": trace_id(request.headers)})
                return self.error(
                    request, 500, "Something went wrong on our side", "Nothing was lost. Please try again in a moment."
                )

        return wrapped

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.render(request, "error.html.j2", status=status, title=title, message=message)


_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}


def static_routes(kit: PageKit) -> list[Route]:
    """The pages' stylesheet and scripts: same-origin files, so the Content-Security-Policy needs no inline code.
    Not under /static/: the Functions Framework's Flask app answers that path itself."""
    files = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in _STATIC_TYPES}

    @route("/assets/<name>")
    def static(request: Request, name: str) -> Response:
        path = files.get(name)
        if path is None:
            return kit.secure(Response("Not found", status=404, mimetype="text/plain"))
        response = Response(path.read_bytes(), mimetype=_STATIC_TYPES[path.suffix])
        kit.secure(response)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    return [static]
