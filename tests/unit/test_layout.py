"""The shape the code keeps: feature packages never import the composition root, and no test double ships."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("shared", "services")


def _modules(*packages: str) -> list[Path]:
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_entry_points_import_the_composition_root() -> None:
    features = [p for p in _modules("shared") if p.name != "bootstrap.py"]
    offenders = [str(p.relative_to(ROOT)) for p in features if "shared.bootstrap" in _imports(p)]
    assert offenders == []


def test_no_test_double_or_test_module_ships_in_a_runtime_package() -> None:
    offenders = []
    for path in _modules(*RUNTIME_PACKAGES):
        tree = ast.parse(path.read_text(), filename=str(path))
        fakes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name.startswith("Fake")]
        if fakes or any(name == "tests" or name.startswith("tests.") for name in _imports(path)):
            offenders.append(f"{path.relative_to(ROOT)}: {fakes}")
    assert offenders == []


def test_no_module_outside_the_booking_repository_reads_the_booking_collection() -> None:
    allowed = {ROOT / "shared/bookings/repository.py", ROOT / "shared/bookings/model.py"}
    offenders = []
    for path in _modules(*RUNTIME_PACKAGES):
        if path in allowed:
            continue
        names = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
        if {"BOOKINGS", "CELLS", "HOLD_RELEASES"} & names:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
