"""The OpenAPI 3.1 document of every route, built from the routes' own declarations and models.

`build_document` turns the routes of every service into one document; the result is checked in as
shared/openapi.json (regenerated with `make openapi`, compared by a unit test) and served as it is at
GET /api/openapi.json, so the document can only say what the routes parse and answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.wrappers import Request, Response

from shared.fields import SCHEMA_COMPONENTS
from shared.schemas import ErrorOut
from shared.store.ids import MAX_ID_BYTES
from shared.topology import Topology
from shared.web import Route, route

DOCUMENT_FILE = Path(__file__).with_name("openapi.json")
DOCUMENT_PATH = "/api/openapi.json"
PUSH_PREFIX = "/pubsub/"
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[a-z_]+)>")
_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Redirect"}


class OpenApiDocument(BaseModel):
    """This document (its schema is OpenAPI's own)."""

    model_config = ConfigDict(extra="allow")
    openapi: Literal["3.1.0"]


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def to_template(match: re.Match[str]) -> str:
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_BYTES}
        if match["conv"] == "any":
            schema = {"type": "string", "enum": [a.strip().strip("'\"") for a in match["args"].split(",")]}
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
        return "{" + match["name"] + "}"

    return _PARAM.sub(to_template, rule), params


def _model_params(model: type[BaseModel], where: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    out = []
    for name, given in schema["properties"].items():
        prop = {k: v for k, v in given.items() if k != "title"}
        description = prop.pop("description", None)
        param = {"name": name, "in": where, "required": name in required, "schema": prop}
        out.append({**param, "description": description} if description else param)
    return out


def _operation_id(method: str, path: str) -> str:
    return method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_")


def _documented(services: Mapping[str, Sequence[Route]], topology: Topology) -> list[tuple[str, Route]]:
    """Every API route the public base URL serves, plus the Pub/Sub push routes (on their service's own URL).
    Pages (HTML for browsers) are left out: they are not an API, and their forms need a CSRF token."""
    return [
        (service, r)
        for service, routes in services.items()
        for r in routes
        if not r.page and (topology.service_for(r.rule) == service or r.rule.startswith(PUSH_PREFIX))
    ]


def _operation(
    service: str, method: str, path: str, params: list[dict[str, Any]], r: Route, refs: Mapping[Any, Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in sorted(r.responses.items()):
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, str(status))}
        if model is not None:
            answer["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        responses[str(status)] = answer
    responses["4XX"] = {
        "description": "What is wrong",
        "content": {"application/json": {"schema": refs[(ErrorOut, "serialization")]}},
    }
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": r.summary,
        "tags": [service],
        "responses": responses,
    }
    parameters = params + (_model_params(r.query, "query") if r.query else [])
    parameters += _model_params(r.headers, "header") if r.headers else []
    if parameters:
        operation["parameters"] = parameters
    if r.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
        }
    if r.auth == "creator":
        operation["security"] = [{"creatorToken": []}]
    if r.rule.startswith(PUSH_PREFIX):
        operation["description"] = "Pushed by Pub/Sub to the service's own URL (OIDC in production)."
        operation["x-push"] = True
    return operation


def build_document(services: Mapping[str, Sequence[Route]], topology: Topology) -> dict[str, Any]:
    """The document of the routes `_documented` chooses, with every model they parse and answer."""
    chosen = _documented(services, topology)
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorOut, "serialization"): None}
    for _, r in chosen:
        if r.body is not None:
            models[(r.body, "validation")] = None
        for model in r.responses.values():
            if model is not None:
                models[(model, "serialization")] = None
    refs, defs = models_json_schema(list(models), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for service, r in chosen:
        path, params = _path_and_params(r.rule)
        item = paths.setdefault(path, {})
        for method in r.methods:
            if method.lower() in item:
                item[method.lower()]["tags"].append(service)  # one push path, several subscribers
            else:
                item[method.lower()] = _operation(service, method, path, params, r, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flo Book a Session integrations",
            "version": "1",
            "description": 'Every route of every service. Errors are {"error": {"code", "message"}}.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted({**defs.get("$defs", {}), **SCHEMA_COMPONENTS}.items())),
            "securitySchemes": {"creatorToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@cache
def _checked_in() -> bytes:
    return DOCUMENT_FILE.read_bytes()


def document_route() -> Route:
    """GET /api/openapi.json: the checked-in document, which a unit test keeps equal to the routes."""

    @route(DOCUMENT_PATH, summary="This OpenAPI document", responses={200: OpenApiDocument})
    def openapi(request: Request) -> Response:
        return Response(_checked_in(), mimetype="application/json")

    return openapi
