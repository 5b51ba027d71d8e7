"""The OpenAPI document: made from the routes' own models, checked in, served, and never out of date."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from openapi_schema_validator import OAS31Validator
from schemathesis.core.result import Err
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from shared.openapi import DOCUMENT_FILE, DOCUMENT_PATH, PUSH_PREFIX, build_document, render
from shared.topology import load_topology
from shared.web import WebApp, json_response, route
from tests.openapi_document import generated_document, service_routes

REGENERATE = "the routes changed: run `make openapi` and commit shared/openapi.json"


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def test_the_checked_in_document_is_the_one_the_routes_make() -> None:
    assert DOCUMENT_FILE.read_text() == render(generated_document()), REGENERATE


def test_every_route_on_the_base_url_and_every_push_route_is_in_it() -> None:
    topology = load_topology()
    documented = _operations(json.loads(DOCUMENT_FILE.read_text()))
    expected = set()
    for service, routes in service_routes().items():
        for r in routes:
            if r.page:
                continue
            if topology.service_for(r.rule) == service or r.rule.startswith(PUSH_PREFIX):
                path = r.rule.replace("<any(zoom, google):name>", "{name}")
                for part in ("token", "creator_id", "offer_id", "booking_id", "notice_id"):
                    path = path.replace(f"<{part}>", "{" + part + "}")
                expected |= {(path, m) for m in r.methods}
    assert documented == expected
    assert ("/api/public/bookings", "POST") in documented
    assert ("/api/openapi.json", "GET") in documented
    assert len(documented) >= 28


def test_pages_are_marked_as_pages_and_left_out() -> None:
    """The document is the JSON API's: the HTML pages (forms with CSRF tokens, for browsers) are not in it,
    and each route that serves one says so, so a page can never be mistaken for an undocumented API route."""
    documented = json.loads(DOCUMENT_FILE.read_text())["paths"]
    routes = [r for found in service_routes().values() for r in found]
    pages = {r.rule for r in routes if r.page}
    html_prefixes = ("/dashboard/", "/book/", "/manage/", "/sign-in", "/dev/sign-in", "/sign-out", "/assets/")
    assert {"/dashboard/bookings", "/book/<creator_id>/<offer_id>", "/manage/<token>", "/sign-in"} <= pages
    assert "/dashboard/settings/integrations" in pages
    for r in routes:
        assert r.page == r.rule.startswith(html_prefixes), r.rule
    assert not any(path.startswith(html_prefixes) for path in documented)


def test_it_is_valid_openapi_3_1_that_the_fuzzer_reads() -> None:
    document = json.loads(DOCUMENT_FILE.read_text())
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        OAS31Validator.check_schema(schema)
    schema = schemathesis.openapi.from_dict(document)
    loaded = [result.ok() for result in schema.get_all_operations() if not isinstance(result, Err)]
    assert len(loaded) == len(_operations(document))


def test_creator_routes_say_they_need_a_token_and_public_ones_do_not() -> None:
    document = json.loads(DOCUMENT_FILE.read_text())
    secured = {path for path, item in document["paths"].items() for op in item.values() if "security" in op}
    assert "/api/bookings" in secured
    assert "/api/settings/availability" in secured
    assert "/api/public/bookings" not in secured
    assert not any(p.startswith(("/api/manage/", "/api/public/")) for p in secured)


def test_the_bookings_service_serves_the_checked_in_document() -> None:
    bookings = service_routes()["bookings"]
    response = Client(WebApp("bookings", bookings)).get(DOCUMENT_PATH)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == DOCUMENT_FILE.read_bytes()


def test_a_route_is_documented_as_werkzeug_matches_it_with_its_own_letters_and_statuses() -> None:
    """Route shapes none of today's routes has: quoted any() values, capitals in the path, a status without a
    name of its own."""

    @route("/api/public/<any('Xenon', \"argon\"):gas>/INDEX", responses={207: None})
    def gas(request: Request, gas: str) -> Response:
        return json_response({"gas": gas}, 207)

    client = Client(WebApp("bookings", [gas]))
    operation = build_document({"bookings": [gas]}, load_topology())["paths"]["/api/public/{gas}/INDEX"]["get"]

    assert [client.get(f"/api/public/{name}/INDEX").status_code for name in ("Xenon", "argon", "'argon'")] == [
        207,
        207,
        404,
    ]
    assert operation["parameters"][0]["schema"] == {"type": "string", "enum": ["Xenon", "argon"]}
    assert operation["operationId"] == "get_api_public_gas_INDEX"
    assert operation["responses"]["207"] == {"description": "207"}


def test_the_rendered_document_keeps_its_words_readable_rather_than_escaped() -> None:
    assert render({"summary": "Caf\u00e9 \u2013 a day"}) == '{\n  "summary": "Caf\u00e9 \u2013 a day"\n}\n'
