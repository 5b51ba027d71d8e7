"""The thin HTTP layer every service shares: routing, JSON in and out, and 4xx errors that say what is wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.routing import ValidationError as NoMatch
from werkzeug.routing.converters import UnicodeConverter
from werkzeug.wrappers import Request, Response

from shared.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotAuthenticatedError,
    NotForUs,
    NotFoundError,
    NotPermittedError,
)
from shared.logs import request_trace
from shared.schemas import HealthOut
from shared.store.ids import is_storable_id
from shared.store.port import Contended

log = logging.getLogger(__name__)

Handler = Callable[..., Response]
ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024
"""No request of this API needs more; a bigger body is a 413 before any of it is parsed."""
MAX_JSON_DEPTH = 8
"""The deepest body of this API nests 5 levels (availability hours); deeper is a 400, not a RecursionError."""
CONTENDED_RETRY_AFTER_SECONDS = 1
"""A contended transaction (shared.store.port.Contended) waited 2 s per attempt already: a second's pause is enough."""


class ApiError(Exception):
    """An error the caller can act on, rendered as {"error": {"code", "message"}} with its status."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInputError, 400),
    (NotAuthenticatedError, 401),
    (NotPermittedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
)
"""The one place a domain error becomes an HTTP status."""


def status_of(error: DomainError) -> int:
    return next((status for kind, status in _STATUS_OF if isinstance(error, kind)), 400)


Auth = Literal["creator"] | None


@dataclass(frozen=True)
class Route:
    """A route and what the OpenAPI document says of it: the models are the ones the handler parses and answers."""

    rule: str
    methods: tuple[str, ...]
    handler: Handler
    summary: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)
    auth: Auth = None
    page: bool = False
    """An HTML page for a person's browser (forms, cookies, CSRF): not part of the API's OpenAPI document."""
    headers: type[BaseModel] | None = None
    """Request headers the handler reads, documented by their aliases."""


def route(
    rule: str,
    *methods: str,
    summary: str = "",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: Mapping[int, type[BaseModel] | None] | None = None,
    auth: Auth = None,
) -> Callable[[Handler], Route]:
    """Declare a route next to its handler, with the request and response models the document is built from."""

    def wrap(handler: Handler) -> Route:
        return Route(rule, methods or ("GET",), handler, summary, body, query, dict(responses or {}), auth)

    return wrap


def as_pages(routes: Iterable[Route]) -> list[Route]:
    """Mark routes as pages, which the OpenAPI document leaves out (it describes the JSON API)."""
    return [replace(r, page=True) for r in routes]


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(data, default=str), status=status, headers=headers, mimetype="application/json")


def respond(model: BaseModel, status: int = 200) -> Response:
    """Answer with a response model, so what is sent is what the document says."""
    return json_response(model.model_dump(mode="json", exclude_unset=True), status)


def error_response(status: int, code: str, message: str, headers: Iterable[tuple[str, str]] | None = None) -> Response:
    response = json_response({"error": {"code": code, "message": message}}, status)
    for name, value in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def load_json(raw: bytes) -> Any:
    """Parse a JSON body of bounded depth (the size is bounded by MAX_BODY_BYTES); a bad one is a 400."""
    too_deep = ApiError(400, "too_deep", f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body must be JSON.") from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise too_deep
    return payload


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "body"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Validate a JSON body into a model, strictly (strict models: "30" is no integer); a 400 names the field."""
    raw = request.get_data(cache=True) or b"{}"
    load_json(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", _problem(exc.errors()[0])) from None


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the query string into a model of string fields; a 400 names the parameter."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", _problem(exc.errors()[0])) from None


class StoredIdConverter(UnicodeConverter):
    """Every path parameter: one Firestore can hold as an id, or the route does not match (a 404, never a 500)."""

    def to_python(self, value: str) -> str:
        if not is_storable_id(value):
            raise NoMatch()
        return value


RequestHook = Callable[[Request], None]


class WebApp:
    """A WSGI app made of routes; health routes come for free so every service answers the same way."""

    def __init__(self, name: str, routes: Iterable[Route], before: Sequence[tuple[str, RequestHook]] = ()) -> None:
        self.name = name
        health = {200: HealthOut}
        self.routes: tuple[Route, ...] = (
            *routes,
            Route("/health", ("GET",), self._health, "Whether the service answers", responses=health),
            Route(f"/health/{name}", ("GET",), self._health, f"Whether {name} answers", responses=health),
        )
        self._handlers = {f"{r.rule}:{','.join(r.methods)}": r.handler for r in self.routes}
        self._map = Map(
            [Rule(r.rule, methods=list(r.methods), endpoint=f"{r.rule}:{','.join(r.methods)}") for r in self.routes],
            converters={"default": StoredIdConverter},
        )
        self._before = before

    def _health(self, request: Request) -> Response:
        return json_response({"status": "ok", "service": self.name})

    def handle(self, request: Request) -> Response:
        with request_trace(request.headers):
            return self._dispatch(request)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        request.max_content_length = MAX_BODY_BYTES
        try:
            endpoint, args = adapter.match()
            for prefix, hook in self._before:
                if request.path.startswith(prefix):
                    hook(request)
            return self._handlers[endpoint](request, **args)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, (exc.headers or {}).items())
        except DomainError as exc:
            return error_response(status_of(exc), exc.code, exc.message)
        except NotForUs:
            return Response(status=204)
        except HTTPException as exc:
            if isinstance(exc, RequestEntityTooLarge):
                # The cap is for what we parse. functions-framework drains the body after the response and
                # would hit it again (a 500); Cloud Run bounds what it can read (32 MiB).
                request.max_content_length = None
            status = exc.code or 500
            code = (exc.name or "error").lower().replace(" ", "_")
            return error_response(status, code, exc.description or "", exc.get_headers())
        except Contended:
            # Nothing was written: the same request succeeds once the other transactions are done (Pub/Sub and
            # Cloud Scheduler retry a 503 by themselves).
            log.warning("store contended; answered 503 to be retried", extra={"path": request.path})
            headers = {"Retry-After": str(CONTENDED_RETRY_AFTER_SECONDS)}
            return error_response(503, "busy", "Too many changes to this at once; try again.", headers.items())
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return error_response(500, "internal", "Something went wrong on our side; nothing was lost.")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self.handle(Request(environ))
        return response(environ, start_response)


class LazyApp:
    """Builds the real app on first request, so importing a service's main.py builds no client."""

    def __init__(self, factory: Callable[[], WebApp]) -> None:
        self._factory = factory
        self._app: WebApp | None = None

    def handle(self, request: Request) -> Response:
        if self._app is None:
            try:
                self._app = self._factory()
            except Exception:
                with request_trace(request.headers):
                    log.exception("the service could not start")
                return error_response(503, "starting_failed", "The service could not start; see its logs.")
        return self._app.handle(request)
