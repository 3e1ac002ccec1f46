"""Mem0's filter language over memory records, compiled once per call into a predicate.

    filters := {field: condition, ...}        every key must hold (an implicit AND)
             | {"AND": [filters, ...]} | {"OR": [filters, ...]} | {"NOT": filters or [filters, ...]}
    condition := value                        equal (for tags: has that tag); a list: any of them
               | "*"                          set at all (any value)
               | {operator: value, ...}       every operator must hold

Operators: eq ne gt gte lt lte in nin contains icontains. Fields: user_id agent_id run_id app_id,
created_at updated_at (ISO dates or times; a bare date with lte/gt means that whole day), tags
(alias categories, Mem0's name), memory (the text), metadata.KEY, or a bare KEY, which is a
metadata key as in Mem0 (where metadata sits beside the scope keys).

A plain scope value at the top (`{"user_id": "ana"}`, or an item of a top-level AND) is the
same as passing `user_id="ana"`: mem's scope rule, shared memories included. Anywhere else a
scope field compares exactly. Anything unknown is one InvalidInputError naming what is
supported, never a silent empty result. Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from memcli.errors import InvalidInputError
from memcli.guard.inputs import check_scopes
from memcli.models import MemoryRecord

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains")
LOGIC = ("AND", "OR", "NOT")
SCOPE_FIELDS = {"user_id": "user", "agent_id": "agent", "run_id": "run", "app_id": "app"}
TIME_FIELDS = {"created_at": "created", "updated_at": "updated"}
FIELDS = (*SCOPE_FIELDS, *TIME_FIELDS, "tags", "categories", "memory", "metadata.KEY")
# record fields a filter cannot select on (a bare key of these names is almost surely not metadata)
_NOT_FILTERABLE = {"id", "hash", "score", "status", "text", "path", "source", "history", "user", "agent", "run", "app"}
MAX_DEPTH = 20

Predicate = Callable[[MemoryRecord], bool]


def _supported() -> str:
    return f"fields {', '.join(FIELDS)}; operators {', '.join(OPERATORS)}; AND, OR, NOT"


def _error(message: str) -> InvalidInputError:
    return InvalidInputError(f"filters: {message} (supported: {_supported()})")


@dataclass
class Compiled:
    """A filter as mem runs it: the scope it names (as scope arguments) and the rest, a predicate."""

    scope: dict[str, str] = field(default_factory=dict)  # {"user": "ana"}, as check_scopes returns
    where: Predicate | None = None

    def __call__(self, record: MemoryRecord) -> bool:
        return self.where is None or self.where(record)


def names_scope(filters: object) -> bool:
    """Does the filter name a scope field anywhere, as a key (at any depth, under AND/OR/NOT)?"""
    if isinstance(filters, list):
        return any(names_scope(item) for item in filters)
    if not isinstance(filters, dict):
        return False
    return any(key in SCOPE_FIELDS or (key in LOGIC and names_scope(value)) for key, value in filters.items())


def scoped(scope: dict[str, str], filters: object) -> tuple[dict[str, str], Compiled]:
    """The scope arguments (as check_scopes returns them) joined with the scope `filters` names,
    and the compiled filter. The same key with two values is an error, not an empty result."""
    compiled = compile_filters(filters)
    for name, value in compiled.scope.items():
        if scope.get(name, value) != value:
            raise _error(f"{name}_id is {scope[name]!r} but filters say {value!r}")
    merged = {**scope, **compiled.scope}
    return check_scopes(merged.get("user"), merged.get("agent"), merged.get("run"), merged.get("app")), compiled


def compile_filters(filters: object) -> Compiled:
    """Check and compile `filters` (None: no filter)."""
    if filters is None:
        return Compiled()
    if not isinstance(filters, dict):
        raise _error('filters must be a mapping, like {"user_id": "ana"} or {"AND": [...]}')
    compiled = Compiled()
    rest: dict[str, Any] = {}
    for key, condition in filters.items():
        if key == "AND" and isinstance(condition, list) and condition:
            kept = [item for item in condition if not _lift(item, compiled.scope)]
            if kept:
                rest["AND"] = kept
        elif not _lift({key: condition}, compiled.scope):
            rest[key] = condition
    compiled.where = _node(rest, 0) if rest else None
    return compiled


def _lift(item: object, scope: dict[str, str]) -> bool:
    """A plain scope value ({"user_id": "ana"}) becomes a scope argument; True when it did."""
    if not (isinstance(item, dict) and len(item) == 1):
        return False
    ((key, value),) = item.items()
    if key not in SCOPE_FIELDS or not isinstance(value, str) or value == "*":
        return False
    name = SCOPE_FIELDS[key]
    if scope.get(name, value) != value:
        raise _error(f"{key} is given twice with different values ({scope[name]!r} and {value!r}); use OR")
    scope[name] = value
    return True


def _node(node: object, depth: int) -> Predicate:
    if depth > MAX_DEPTH:
        raise _error(f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or not node:
        raise _error(f"expected a mapping of fields to conditions, got {node!r:.60}")
    parts = [_part(key, value, depth) for key, value in node.items()]
    return parts[0] if len(parts) == 1 else (lambda record: all(part(record) for part in parts))


def _part(key: object, value: object, depth: int) -> Predicate:
    if not isinstance(key, str):
        raise _error(f"a key must be a string, got {key!r:.40}")
    if key in LOGIC:
        items = value if isinstance(value, list) else [value] if key == "NOT" else None
        if not items:
            raise _error(f"{key} needs a non-empty list of filters")
        children = [_node(item, depth + 1) for item in items]
        if key == "AND":
            return lambda record: all(child(record) for child in children)
        if key == "OR":
            return lambda record: any(child(record) for child in children)
        return lambda record: not any(child(record) for child in children)
    if key.upper() in LOGIC:
        raise _error(f"write {key.upper()} in capitals")
    if key == "metadata" and isinstance(value, dict):  # {"metadata": {"k": condition}}: each a metadata key
        parts = [_part(f"metadata.{name}", condition, depth) for name, condition in value.items()]
        return lambda record: all(part(record) for part in parts)
    getter, kind = _field(key)
    test = _condition(key, kind, value)
    return lambda record: test(getter(record))


def _field(key: str) -> tuple[Callable[[MemoryRecord], Any], str]:
    """How to read a field of a record, and its kind: scope, time, tags, text or value."""
    if key in SCOPE_FIELDS:
        attribute = SCOPE_FIELDS[key]
        return (lambda record: getattr(record, attribute)), "scope"
    if key in TIME_FIELDS:
        attribute = TIME_FIELDS[key]
        return (lambda record: getattr(record, attribute)), "time"
    if key in ("tags", "categories"):
        return (lambda record: list(record.tags)), "tags"
    if key == "memory":
        return (lambda record: record.text), "text"
    name = key.removeprefix("metadata.")
    if not name:
        raise _error("metadata. needs a key after the dot, like metadata.priority")
    if key == name:  # a bare key: metadata, unless it is a field mem does not filter on or a near miss
        if name in _NOT_FILTERABLE:
            raise _error(f"cannot filter on {name!r}")
        near = difflib.get_close_matches(name, [*SCOPE_FIELDS, *TIME_FIELDS, "tags", "categories"], n=1, cutoff=0.75)
        if near:
            raise _error(
                f"unknown field {name!r}: did you mean {near[0]!r}? (for a metadata key, write metadata.{name})"
            )
    return (lambda record: record.metadata.get(name)), "value"


def _condition(key: str, kind: str, value: object) -> Callable[[Any], bool]:
    if value == "*":
        return lambda actual: actual not in (None, "", [])
    if isinstance(value, list):  # {"tags": ["work", "home"]}: any of them
        return _operator(key, kind, "in", value)
    if not isinstance(value, dict):
        return _operator(key, kind, "eq", value)
    if not value:
        raise _error(f"{key}: an empty condition")
    tests = []
    for operator, operand in value.items():
        if operator not in OPERATORS:
            raise _error(f"{key}: unknown operator {operator!r}")
        tests.append(_operator(key, kind, operator, operand))
    return lambda actual: all(test(actual) for test in tests)


def _operator(key: str, kind: str, operator: str, operand: object) -> Callable[[Any], bool]:
    if operator in ("in", "nin"):
        if not isinstance(operand, list) or not operand:
            raise _error(f"{key}: {operator} needs a non-empty list")
        options = [_operand(key, kind, item) for item in operand]
        if kind == "tags":
            overlaps = lambda tags: any(option in tags for option in options)  # noqa: E731
            return overlaps if operator == "in" else (lambda tags: not overlaps(tags))
        found = lambda actual: any(_equal(actual, option) for option in options)  # noqa: E731
        return found if operator == "in" else (lambda actual: not found(actual))
    if operator in ("contains", "icontains"):
        if not isinstance(operand, str):
            raise _error(f"{key}: {operator} needs a string")
        fold = str.casefold if operator == "icontains" else str

        def contains(actual: Any) -> bool:
            values = actual if isinstance(actual, list) else [actual]
            return any(isinstance(v, str) and fold(operand) in fold(v) for v in values)

        return contains
    wanted = _operand(key, kind, operand)
    if kind == "time":
        assert isinstance(wanted, datetime)
        bound = _day_end(operand, wanted) if operator in ("lte", "gt") else wanted
        return lambda actual: _compare(_moment(actual), operator, bound)
    if kind == "tags":
        if operator not in ("eq", "ne"):
            raise _error(f"{key}: {operator} does not apply to tags; use eq, ne, in, nin, contains or icontains")
        return (lambda tags: wanted in tags) if operator == "eq" else (lambda tags: wanted not in tags)
    return lambda actual: _compare(actual, operator, wanted)


def _operand(key: str, kind: str, value: object) -> Any:
    if kind in ("scope", "tags", "text") and not isinstance(value, str):
        raise _error(f"{key} values must be strings, got {value!r:.40}")
    if kind == "time":
        moment = _moment(value)
        if moment is None:
            raise _error(f"{key} needs an ISO date or time, like 2026-07-01, got {value!r:.40}")
        return moment
    if kind == "value" and not isinstance(value, str | int | float | bool) and value is not None:
        raise _error(f"{key}: compare with a string, number, boolean or null, got {type(value).__name__}")
    return value


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day_end(operand: object, moment: datetime) -> datetime:
    """A bare date as an upper bound ("lte 2026-07-31") means the end of that day."""
    is_date = isinstance(operand, date) and not isinstance(operand, datetime)
    if is_date or (isinstance(operand, str) and len(operand.strip()) == 10):
        return moment + timedelta(days=1) - timedelta(microseconds=1)
    return moment


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return type(actual) is type(wanted) and actual == wanted
    return bool(actual == wanted)


def _compare(actual: Any, operator: str, wanted: Any) -> bool:
    if operator == "eq":
        return _equal(actual, wanted)
    if operator == "ne":
        return not _equal(actual, wanted)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (actual, wanted))
    comparable = numbers or all(isinstance(v, str) for v in (actual, wanted))
    comparable = comparable or all(isinstance(v, datetime) for v in (actual, wanted))
    if not comparable:
        return False  # a missing value, or a number against a string: no match, not an error
    if operator == "gt":
        return bool(actual > wanted)
    if operator == "gte":
        return bool(actual >= wanted)
    if operator == "lt":
        return bool(actual < wanted)
    return bool(actual <= wanted)
