"""Check bodies against Zoom's own OpenAPI documents (never copied into the project).

The folder comes from ZOOM_OPENAPI_DIR (meetings-openapi.json, users-get-openapi.json). Tests use
it on the sandbox's answers and on the bodies the project sends Zoom through the sandbox.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker

DOCUMENTS = ("meetings-openapi.json", "users-get-openapi.json")
ENV_VAR = "ZOOM_OPENAPI_DIR"
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


class ConformanceError(AssertionError):
    """A body does not match Zoom's schema, or the documents are missing."""


def _request_format_checker() -> Any:
    """OAS formats, but date-time also takes Zoom's documented local form yyyy-MM-ddTHH:mm:ss."""
    checker = copy.copy(oas30_format_checker)
    checker.checkers = dict(oas30_format_checker.checkers)
    strict_date_time, _ = oas30_format_checker.checkers["date-time"]

    def date_time(value: object) -> bool:
        return (isinstance(value, str) and bool(_LOCAL_TIME.match(value))) or bool(strict_date_time(value))

    checker.checkers["date-time"] = (date_time, ())
    return checker


class ZoomOpenAPI:
    """The Zoom API operations of the documents in one folder."""

    def __init__(self, folder: Path) -> None:
        self._operations: list[tuple[re.Pattern[str], int, dict[str, Any], dict[str, Any]]] = []
        for name in DOCUMENTS:
            path = folder / name
            if not path.is_file():
                raise ConformanceError(f"{path} is missing: {ENV_VAR} must name Zoom's OpenAPI folder")
            document = json.loads(path.read_text(encoding="utf-8"))
            for template, operations in document["paths"].items():
                pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
                literal = len(re.sub(r"\{[^}]+\}", "", template))
                self._operations.append((pattern, literal, operations, document))
        self._request_formats = _request_format_checker()

    @classmethod
    def from_env(cls) -> ZoomOpenAPI:
        folder = os.environ.get(ENV_VAR)
        if not folder:
            raise ConformanceError(
                f"{ENV_VAR} is not set: point it at the folder holding Zoom's "
                f"{' and '.join(DOCUMENTS)} (the Makefile sets it)"
            )
        return _load(folder)

    def _operation(self, method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The operation for an API path relative to /v2 (e.g. /users/me/meetings)."""
        matches = [(lit, ops, doc) for pat, lit, ops, doc in self._operations if pat.match(path)]
        for _, operations, document in sorted(matches, key=lambda m: -m[0]):
            if method.lower() in operations:
                return operations[method.lower()], document
        raise ConformanceError(f"Zoom's documents have no operation {method.upper()} {path}")

    def _check(self, schema: dict[str, Any], document: dict[str, Any], body: Any, formats: Any) -> None:
        rooted = {**schema, "components": document.get("components", {})}
        errors = sorted(OAS30Validator(rooted, format_checker=formats).iter_errors(body), key=str)
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in errors)
            raise ConformanceError(f"body does not match Zoom's schema: {details}")

    def validate_request(self, method: str, path: str, body: Any) -> None:
        """Raise ConformanceError if a request body breaks the operation's requestBody schema."""
        operation, document = self._operation(method, path)
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            raise ConformanceError(f"{method.upper()} {path} takes no JSON body")
        self._check(content["schema"], document, body, self._request_formats)

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        """Raise ConformanceError if the status is undocumented or the body breaks its schema."""
        operation, document = self._operation(method, path)
        documented = operation.get("responses", {}).get(str(status))
        if documented is None:
            raise ConformanceError(f"{method.upper()} {path} does not document status {status}")
        content = documented.get("content", {}).get("application/json")
        if content is None:
            if body not in (None, b"", ""):
                raise ConformanceError(f"{method.upper()} {path} {status} has no body in Zoom's documents")
            return
        self._check(content["schema"], document, body, oas30_format_checker)


@cache
def _load(folder: str) -> ZoomOpenAPI:
    return ZoomOpenAPI(Path(folder))
