"""Schemathesis against the whole local stack, driven by the served OpenAPI document: no request it makes
gets a 5xx, and every answer (status, content type, body) is one the document declares.

The public base URL is fuzzed with a creator's token (creator routes then reach their logic); the Pub/Sub
push routes, which are not on the base URL, are fuzzed on each pushing service's own URL. The figures
(operations, requests, failures) are printed; `FUZZ_EXAMPLES` and `FUZZ_SEED` change the budget and seed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.topology import load_topology
from tests.e2e.flo import Flo, StackInfo

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "10")
SEED = os.environ.get("FUZZ_SEED", "11")


def _push_paths() -> dict[str, list[str]]:
    """Each pushing service's push paths, from the one declaration of the topology."""
    paths: dict[str, set[str]] = {}
    for subscription in load_topology().subscriptions:
        paths.setdefault(subscription.service, set()).add(subscription.path)
    return {service: sorted(found) for service, found in paths.items()}


PUSH_PATHS = _push_paths()


def _schemathesis(stack: StackInfo, report: Path, *args: str, config: Path = CONFIG) -> dict[str, Any]:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{stack.base_url}/api/openapi.json",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "60",  # a loaded machine can be slow; a slow answer is not what this test is about
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    log = report.with_suffix(".log")
    log.write_text(done.stdout + done.stderr)
    assert report.exists(), f"schemathesis wrote no report; see {log}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(report.read_text())
    result["log"] = str(log)
    result["returncode"] = done.returncode
    result["output"] = done.stdout
    return result


def _with_known_ids(path: Path, known: dict[str, list[str]]) -> Path:
    """The config plus ids that exist, used for half the values of the parameters of those names, so the
    fuzzer reaches the logic behind a real creator, offer, manage link and booking and not only the 404s."""
    lines = [CONFIG.read_text()]
    for name, values in known.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    for name in known:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    lines.append('"body.offer_id" = { dictionary = "offer_id", probability = 0.5 }')
    path.write_text("\n".join(lines) + "\n")
    return path


def _figures(name: str, result: dict[str, Any]) -> str:
    failures = sum(int(f["count"]) for f in result["failures"])
    return (
        f"{name}: {result['operations']['tested']} operations, {result['test_cases']['generated']} requests "
        f"(test cases), {failures} failures, {len(result['errors'])} errors"
    )


def _assert_clean(name: str, result: dict[str, Any]) -> None:
    output = result["output"]
    found = [i for i in (output.find("ERRORS"), output.find("FAILURES")) if i >= 0]
    summary = output[min(found, default=0) :][:6000]
    assert result["failures"] == [], f"{_figures(name, result)}; see {result['log']}\n{summary}"
    assert result["errors"] == [], f"{_figures(name, result)}; see {result['log']}\n{summary}"
    assert result["returncode"] == 0, f"{_figures(name, result)}; see {result['log']}\n{summary}"


@pytest.mark.e2e
def test_the_public_api_survives_the_fuzzer_and_matches_its_document(
    flo: Flo, stack: StackInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creator = flo.creator(plan="pro")
    offers = [flo.offer(creator), flo.offer(creator, price_cents=2500)]
    bookings = [flo.book(offers[i % 2], start) for i, start in enumerate(flo.slot_starts(creator, offers[0], 6))]
    known = {
        "creator_id": [creator.creator_id],
        "offer_id": offers,
        "token": [flo.manage_token(b) for b in bookings],
        "booking_id": [b["booking_id"] for b in bookings],
    }
    result = _schemathesis(
        stack,
        tmp_path / "public.json",
        "--header",
        f"Authorization: Bearer {creator.token}",
        "--exclude-path-regex",
        "^/pubsub/",
        config=_with_known_ids(tmp_path / "schemathesis.toml", known),
    )
    with capsys.disabled():
        print(f"\n{_figures('base URL', result)}")  # the figures the issue asks for
    assert result["operations"]["tested"] >= 25  # the check can fail: every documented operation was run
    _assert_clean("base URL", result)


@pytest.mark.e2e
@pytest.mark.parametrize("service", sorted(PUSH_PATHS))
def test_push_routes_survive_the_fuzzer(
    stack: StackInfo, tmp_path: Path, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _schemathesis(
        stack,
        tmp_path / f"{service}.json",
        "--url",
        stack.services[service],
        "--include-path-regex",
        "^(" + "|".join(re.escape(p) for p in PUSH_PATHS[service]) + ")$",
    )
    with capsys.disabled():
        print(f"\n{_figures(f'{service} push', result)}")
    assert result["operations"]["tested"] == len(PUSH_PATHS[service])
    _assert_clean(f"{service} push", result)
