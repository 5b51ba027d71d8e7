"""The thin HTTP layer every service shares: routing, JSON in and out, and 4xx errors that say what is wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
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

log = logging.getLogger(__name__)

Handler = Callable[..., Response]
ModelT = TypeVar("ModelT", bound=BaseModel)


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


@dataclass(frozen=True)
class Route:
    rule: str
    methods: tuple[str, ...]
    handler: Handler


def route(rule: str, *methods: str) -> Callable[[Handler], Route]:
    """Declare a route next to its handler."""

    def wrap(handler: Handler) -> Route:
        return Route(rule, methods or ("GET",), handler)

    return wrap


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(data, default=str), status=status, headers=headers, mimetype="application/json")


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Validate a JSON body into a model; any problem is a 400 naming the field."""
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body must be JSON.") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {first['msg']}") from None


RequestHook = Callable[[Request], None]


class WebApp:
    """A WSGI app made of routes; health routes come for free so every service answers the same way."""

    def __init__(self, name: str, routes: Iterable[Route], before: Sequence[tuple[str, RequestHook]] = ()) -> None:
        self.name = name
        all_routes = [
            *routes,
            Route("/health", ("GET",), self._health),
            Route(f"/health/{name}", ("GET",), self._health),
        ]
        self._handlers = {f"{r.rule}:{','.join(r.methods)}": r.handler for r in all_routes}
        self._map = Map(
            [Rule(r.rule, methods=list(r.methods), endpoint=f"{r.rule}:{','.join(r.methods)}") for r in all_routes]
        )
        self._before = before

    def _health(self, request: Request) -> Response:
        return json_response({"status": "ok", "service": self.name})

    def handle(self, request: Request) -> Response:
        with request_trace(request.headers):
            return self._dispatch(request)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
            for prefix, hook in self._before:
                if request.path.startswith(prefix):
                    hook(request)
            return self._handlers[endpoint](request, **args)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except DomainError as exc:
            return error_response(status_of(exc), exc.code, exc.message)
        except NotForUs:
            return Response(status=204)
        except HTTPException as exc:
            status = exc.code or 500
            return error_response(status, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
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
