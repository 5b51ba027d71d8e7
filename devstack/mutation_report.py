"""The mutation score of the last `mutmut run`, less the mutants listed as equivalent, and the survivors.

Run from the repository root after `mutmut run` (what `make mutate` does). Killed counts mutants the
unit tier caught (a failing test, a timeout, or mypy). Equivalent mutants, which no test can catch
because they do not change behaviour, are listed with a reason in tests/mutation_equivalents.txt as
`mutant-name  # reason`; an entry naming a mutant that no longer exists or that a test now kills is
reported as stale so the list stays true.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

EQUIVALENTS = Path("tests/mutation_equivalents.txt")
KILLED = frozenset({"killed", "timeout", "caught by type check"})
UNDETECTED = frozenset({"survived", "no tests", "suspicious", "segfault"})


def results(mutmut: str) -> dict[str, str]:
    """Mutant name -> status, as `mutmut results --all=true` prints them."""
    out = subprocess.run([mutmut, "results", "--all=true"], check=True, capture_output=True, text=True).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            found[name] = status
    return found


def equivalents(path: Path) -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour; every entry must give a reason."""
    listed: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, reason = line.partition("#")
        if not sep or not reason.strip():
            raise SystemExit(f"{path}:{number}: give the reason after '#': {line}")
        listed[name.strip()] = reason.strip()
    return listed


def module_of(name: str) -> str:
    return name.split(".x_", 1)[0].split(".xǁ", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutmut", default=str(Path(sys.executable).parent / "mutmut"))
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 below this score (percent)")
    args = parser.parse_args()

    statuses = results(args.mutmut)
    listed = equivalents(EQUIVALENTS)
    # An entry of a module this run left unchecked (MUTANTS=...) is neither confirmed nor stale.
    stale = {
        name: statuses.get(name, "gone") for name in listed if statuses.get(name) not in UNDETECTED | {"not checked"}
    }
    counted = {name: status for name, status in statuses.items() if name not in listed and status != "not checked"}
    killed = sum(status in KILLED for status in counted.values())
    undetected = sorted(name for name, status in counted.items() if status in UNDETECTED)

    by_module: dict[str, list[str]] = defaultdict(list)
    for name in undetected:
        by_module[module_of(name)].append(name)
    for module in sorted(by_module):
        print(f"{module}: {len(by_module[module])} not killed")
        for name in by_module[module]:
            print(f"    {name}: {counted[name]}")
    print()
    for name, reason in sorted(listed.items()):
        print(f"equivalent {name}: {reason}")
    for name, status in sorted(stale.items()):
        print(f"stale equivalent entry {name} ({status}): remove it from {EQUIVALENTS}")
    unchecked = sum(status == "not checked" for status in statuses.values())
    print()
    print("score by module (checked, non-equivalent mutants):")
    checked_by_module: dict[str, list[bool]] = defaultdict(list)
    for name, status in counted.items():
        checked_by_module[module_of(name)].append(status in KILLED)
    for module, kills in sorted(checked_by_module.items()):
        print(f"    {module}: {100.0 * sum(kills) / len(kills):.1f}% ({sum(kills)} of {len(kills)} killed)")
    print()
    print("statuses:", ", ".join(f"{status} {n}" for status, n in Counter(statuses.values()).most_common()))
    if unchecked:
        print(f"{unchecked} mutants not checked yet: the score covers the checked ones only")
    score = 100.0 * killed / len(counted) if counted else 0.0
    print(
        f"mutation score: {score:.1f}% ({killed} of {len(counted)} non-equivalent mutants killed; "
        f"{len(listed)} equivalent, {len(undetected)} not killed)"
    )
    return 1 if score < args.fail_under or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
