"""Every Firestore query in the code has the index it needs in Terraform, and every composite index serves one.

The queries are read from the source (every `<store>.query(COLLECTION, [Where(...)], order_by=...)` call
under shared/ and services/, and every call of a method that forwards its filters to one, such as the
booking repository's `_query`, with the collection that method names), so a new query that needs a
composite index fails here before it fails in production with FAILED_PRECONDITION, which the emulator
never raises.

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


def _field(node: ast.expr, where: str) -> str:
    """A field name: a literal, or a variable (as `<name>`) that only a single-field query may use, since the
    automatic single-field index serves it whatever the field is."""
    return f"<{node.id}>" if isinstance(node, ast.Name) else _literal(node, where)


@dataclass(frozen=True)
class Forwarder:
    """A function that runs its caller's filters, such as the booking repository's `_query(where, order_by,
    limit)` on the collection it names, or the store port's `paged(store, collection, where, ...)` on the
    caller's collection (`collection` None): its callers are the queries."""

    collection: str | None
    params: tuple[str, ...]


def _params(function: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(arg.arg for arg in function.args.args if arg.arg != "self")


def _store_queries(tree: ast.AST) -> list[ast.Call]:
    """Calls of a DocStore's query (Google Calendar's freebusy().query(body=...) has no positional arguments)."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "query"
        and node.args
    ]


def _forwarders(trees: list[ast.AST], names: dict[str, str]) -> dict[str, Forwarder]:
    found: dict[str, Forwarder] = {}
    for tree in trees:
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            params = _params(function)
            for call in _store_queries(function):
                collection, filters = call.args[0], call.args[1] if len(call.args) > 1 else None
                if not (isinstance(filters, ast.Name) and filters.id in params and isinstance(collection, ast.Name)):
                    continue
                named = None if collection.id in params else names[collection.id]
                found[function.name] = Forwarder(named, params)
    return found


def _arguments(call: ast.Call, params: tuple[str, ...]) -> dict[str, ast.expr]:
    return {**dict(zip(params, call.args, strict=False)), **{k.arg: k.value for k in call.keywords if k.arg}}


def _query(where: str, collection: str, arguments: dict[str, ast.expr]) -> Query:
    filters = arguments.get("where")
    equalities: set[str] = set()
    ranges: set[str] = set()
    if filters is not None:
        assert isinstance(filters, ast.List), f"{where}: filters must be a literal list"
        for item in filters.elts:
            assert isinstance(item, ast.Call) and len(item.args) == 3, f"{where}: filter is not Where(...)"
            field, op = _field(item.args[0], where), _literal(item.args[1], where)
            (equalities if op in EQUALITY_OPS else ranges).add(field)
    order = arguments.get("order_by")
    order_by = _field(order, where) if order is not None and not _is_none(order) else None
    query = Query(where, collection, frozenset(equalities), frozenset(ranges), order_by)
    fields = {*equalities, *ranges, *([order_by] if order_by else [])}
    assert len(fields) == 1 or not any(f.startswith("<") for f in fields), f"{where}: a variable field beside others"
    return query


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _collection_of(call: ast.Call, forwarder: Forwarder, names: dict[str, str], where: str) -> str:
    if forwarder.collection is not None:
        return forwarder.collection
    collection = _arguments(call, forwarder.params).get("collection")
    assert isinstance(collection, ast.Name) and collection.id in names, f"{where}: collection not a constant"
    return names[collection.id]


def code_queries() -> list[Query]:
    names = _collection_names()
    trees = {path: ast.parse(path.read_text()) for path in SOURCES}
    forwarders = _forwarders(list(trees.values()), names)
    forwarding = {
        id(call)
        for tree in trees.values()
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and f.name in forwarders
        for call in _store_queries(f)
    }
    found: list[Query] = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in forwarders:
                forwarder = forwarders[name]
                collection = _collection_of(node, forwarder, names, where)
                found.append(_query(where, collection, _arguments(node, forwarder.params)))
            elif name == "query" and node.args and id(node) not in forwarding:
                collection_node = node.args[0]
                assert isinstance(collection_node, ast.Name) and collection_node.id in names, (
                    f"{where}: collection not a constant"
                )
                arguments = _arguments(node, ("collection", "where", "order_by", "limit"))
                found.append(_query(where, names[collection_node.id], arguments))
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
    repository = [q for q in queries if q.where.startswith("shared/bookings/repository.py:")]
    assert any(q.equalities == {"creator_id"} and q.order_by == "start" for q in repository), listing


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
