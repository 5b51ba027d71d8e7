"""Every Firestore query in the code has the index it needs in Terraform, and every composite index serves one.

The queries are read from the source (every `<store>.query(COLLECTION, [Where(...)], order_by=...)` call
under shared/ and services/), so a new query that needs a composite index fails here before it fails in
production with FAILED_PRECONDITION, which the emulator never raises.

Firestore's rules, as applied here: equality filters alone (any number, `in` included) are served by
merging the automatic single-field indexes; a query on one field needs nothing else; a range filter or
an order on one field together with filters on other fields needs a composite index whose fields are the
equality fields followed by that field.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tests.unit.test_terraform import ROOT, _local

SOURCES = [*sorted((ROOT / "shared").rglob("*.py")), *sorted((ROOT / "services").rglob("*.py"))]
EQUALITY_OPS = frozenset({"==", "in"})


@dataclass(frozen=True)
class Query:
    where: str
    collection: str
    equalities: frozenset[str]
    ranges: frozenset[str]
    order_by: str | None

    def needed_index(self) -> tuple[str, frozenset[str], str] | None:
        """(collection, equality fields, last field) of the composite index, or None when none is needed."""
        fields = {*self.ranges, *([self.order_by] if self.order_by else [])}
        assert len(fields) <= 1, f"{self.where}: range filters or order on several fields cannot be indexed"
        if not fields:
            return None
        (last,) = fields
        equalities = self.equalities - {last}
        return (self.collection, frozenset(equalities), last) if equalities else None


def _collection_names() -> dict[str, str]:
    """Module-level constants such as BOOKINGS = "bookings", the only way the code names a collection."""
    names: dict[str, str] = {}
    for path in SOURCES:
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                names[node.targets[0].id] = node.value.value
    return names


def _literal(node: ast.expr, where: str) -> str:
    assert isinstance(node, ast.Constant) and isinstance(node.value, str), f"{where}: field or op is not a literal"
    return node.value


def code_queries() -> list[Query]:
    names = _collection_names()
    found: list[Query] = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "query"):
                continue
            if not node.args:  # not a DocStore query (e.g. Google Calendar's freebusy().query(body=...))
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            collection = node.args[0]
            assert isinstance(collection, ast.Name) and collection.id in names, f"{where}: collection not a constant"
            filters = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "where"), None)
            )
            equalities: set[str] = set()
            ranges: set[str] = set()
            if filters is not None:
                assert isinstance(filters, ast.List), f"{where}: filters must be a literal list"
                for item in filters.elts:
                    assert isinstance(item, ast.Call) and len(item.args) == 3, f"{where}: filter is not Where(...)"
                    field, op = _literal(item.args[0], where), _literal(item.args[1], where)
                    (equalities if op in EQUALITY_OPS else ranges).add(field)
            order = next((k.value for k in node.keywords if k.arg == "order_by"), None)
            order_by = _literal(order, where) if order is not None else None
            found.append(Query(where, names[collection.id], frozenset(equalities), frozenset(ranges), order_by))
    return found


def terraform_indexes() -> set[tuple[str, frozenset[str], str]]:
    indexes = set()
    for key, spec in _local("firestore_indexes").items():
        fields = [field for field, order in spec["fields"]]
        assert all(order == "ASCENDING" for _, order in spec["fields"]), f"{key}: the code orders ascending only"
        indexes.add((spec["collection"], frozenset(fields[:-1]), fields[-1]))
    return indexes


def test_the_queries_are_found() -> None:
    queries = code_queries()
    listing = "\n".join(
        f"{q.where}: {q.collection} eq={sorted(q.equalities)} range={sorted(q.ranges)} order={q.order_by}"
        for q in queries
    )
    assert len(queries) >= 5, listing
    assert any(q.collection == "bookings" and q.equalities == {"creator_id"} and q.ranges == {"start"} for q in queries)


def test_every_query_has_its_index_and_every_index_serves_a_query() -> None:
    queries = code_queries()
    needed = {
        index: [q.where for q in queries if q.needed_index() == index] for q in queries if (index := q.needed_index())
    }
    declared = terraform_indexes()
    missing = {index: wheres for index, wheres in needed.items() if index not in declared}
    unused = declared - set(needed)
    assert not missing, f"queries without a composite index in infra/terraform/firestore.tf: {missing}"
    assert not unused, f"composite indexes no query uses: {unused}"


def test_the_rules_tell_which_queries_need_an_index() -> None:
    def query(equalities: set[str], ranges: set[str], order_by: str | None = None) -> Query:
        return Query("example", "c", frozenset(equalities), frozenset(ranges), order_by)

    assert query({"a", "b"}, set()).needed_index() is None
    assert query(set(), {"a"}, "a").needed_index() is None
    assert query({"a"}, {"b"}).needed_index() == ("c", frozenset({"a"}), "b")
    assert query({"a"}, set(), "b").needed_index() == ("c", frozenset({"a"}), "b")
