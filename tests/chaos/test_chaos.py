"""The small chaos run, inside `make test`: the same stories, faults and invariants as `make chaos`, smaller.

One run per session; each invariant is its own test so a failure names what broke. EXPECTED_TO_FAIL
lists the invariants a race of the booking life cycle still breaks, each with the race: such a test
is marked xfail, never weakened, and the list is emptied as the races are fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.checks import INVARIANTS
from tests.chaos.run import SMALL, Result, run

pytestmark = pytest.mark.timeout(900)
"""The run happens in the first test's fixture: about 2 minutes here (a killed worker's reconcile lease lapses
within 30 s, since its live holder renews it), more on a machine busy with other work; the settle wait
itself gives up after SMALL.settle_timeout."""

EXPECTED_TO_FAIL: dict[str, str] = {}
"""invariant -> the race that still breaks it in the small run; empty it as the races are fixed."""


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Result:
    result = run(SMALL, Path(tmp_path_factory.mktemp("chaos")))
    print(result.report())
    return result


def test_every_fault_switch_was_exercised(chaos: Result) -> None:
    """A chaos run whose faults silently stayed off would prove nothing."""
    faults = chaos.faults
    assert faults["provider_calls_faulted"] > 0, faults
    assert faults["smtp_sends_refused"] > 0, faults
    assert faults["services_killed"] == SMALL.kills and faults["services_restarted"] >= SMALL.kills, faults
    assert faults["restarts_logged"] >= SMALL.kills, faults
    assert faults["push_duplicates"] > 0 and faults["booking_events_republished"] > 0, faults
    assert faults["grants_revoked"] == 2, faults
    assert chaos.figures.counts["bookings_made"] == SMALL.bookings, chaos.report()


@pytest.mark.parametrize(
    "invariant",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=EXPECTED_TO_FAIL[name], strict=False))
        if name in EXPECTED_TO_FAIL
        else name
        for name in INVARIANTS
    ],
)
def test_invariant_holds(chaos: Result, invariant: str) -> None:
    assert chaos.figures.failures[invariant] == [], chaos.report()
