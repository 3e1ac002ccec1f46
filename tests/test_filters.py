"""Mem0's filter language: a table of filter -> the memories it selects, on search, get_all and
delete_all; and every malformed filter as one clear error, never a silent []."""

from __future__ import annotations

from pathlib import Path

import pytest

from memcli import InvalidInputError, Memory

MEMORIES = [  # (key, text, scope, tags, metadata, date)
    ("ana-tea", "ana likes green tea", {"user_id": "ana"}, ["food"], {"priority": 3, "kind": "taste"}, "2026-06-02"),
    (
        "ana-job",
        "ana works at the tea museum",
        {"user_id": "ana", "agent_id": "hr"},
        ["work"],
        {"priority": 8},
        "2026-07-15",
    ),
    ("bob-tea", "bob hates tea", {"user_id": "bob"}, ["food"], {"priority": 5, "kind": "Taste"}, "2026-07-31"),
    ("bob-run", "bob drinks tea on the trip", {"user_id": "bob", "run_id": "trip"}, [], {"flag": True}, "2026-08-01"),
    ("shared", "the office tea is oolong", {}, ["work", "food"], {}, "2026-05-01"),
]


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> tuple[Memory, dict[str, str]]:
    mem = Memory(vault=tmp_path_factory.mktemp("filters") / "vault")
    ids = {}
    for key, text, scope, tags, metadata, day in MEMORIES:
        result = mem.add(text, infer=False, tags=tags, metadata=metadata or None, timestamp=f"{day}T12:00:00Z", **scope)
        ids[result["results"][0]["id"]] = key
    return mem, ids


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # the module vault outlives a test
    monkeypatch.setenv("MEM_EMBED_MODEL", "none")
    monkeypatch.setenv("MEM_FRESHNESS_MS", "0")
    return tmp_path


CASES = [
    ({"user_id": "ana"}, {"ana-tea", "ana-job", "shared"}),  # a plain top-level scope is the scope argument
    ({"AND": [{"user_id": "bob"}, {"run_id": "*"}]}, {"bob-run"}),  # Mem0's wildcard: set at all
    ({"OR": [{"user_id": "ana"}, {"agent_id": {"in": ["hr"]}}]}, {"ana-tea", "ana-job"}),  # exact inside OR
    ({"NOT": [{"tags": {"in": ["food"]}}]}, {"ana-job", "bob-run"}),
    ({"tags": "work"}, {"ana-job", "shared"}),
    ({"tags": ["work", "food"]}, {"ana-tea", "ana-job", "bob-tea", "shared"}),
    ({"categories": {"contains": "foo"}}, {"ana-tea", "bob-tea", "shared"}),
    ({"tags": {"nin": ["food"]}}, {"ana-job", "bob-run"}),
    ({"priority": {"gte": 5}}, {"ana-job", "bob-tea"}),  # a bare key is metadata, as in Mem0
    ({"metadata.priority": {"gt": 3, "lt": 8}}, {"bob-tea"}),
    ({"metadata": {"priority": {"lte": 3}}}, {"ana-tea"}),
    ({"kind": {"icontains": "TASTE"}}, {"ana-tea", "bob-tea"}),
    ({"kind": {"contains": "Tas"}}, {"bob-tea"}),
    ({"kind": {"ne": "taste"}}, {"ana-job", "bob-tea", "bob-run", "shared"}),
    ({"flag": True}, {"bob-run"}),
    ({"priority": {"eq": "8"}}, set()),  # a string is not the number 8
    ({"created_at": {"gte": "2026-07-01", "lte": "2026-07-31"}}, {"ana-job", "bob-tea"}),  # lte: the whole day
    ({"created_at": {"gt": "2026-07-31"}}, {"bob-run"}),
    ({"created_at": {"lt": "2026-06-02T12:00:00+00:00"}}, {"shared"}),
    ({"memory": {"icontains": "MUSEUM"}}, {"ana-job"}),
    ({"AND": [{"user_id": "bob"}, {"OR": [{"tags": "food"}, {"run_id": "trip"}]}]}, {"bob-tea", "bob-run", "shared"}),
    ({"user_id": {"in": ["ana", "bob"]}, "agent_id": {"ne": "hr"}}, {"ana-tea", "bob-tea", "bob-run"}),
]


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(c[0])[:60] for c in CASES])
def test_a_filter_selects_exactly_these_memories(vault: tuple[Memory, dict[str, str]], filters, expected) -> None:
    mem, ids = vault
    listed = {ids[r["id"]] for r in mem.get_all(filters=filters)["results"]}
    found = {ids[r["id"]] for r in mem.search("tea", filters=filters, limit=50)["results"]}
    assert listed == expected
    assert found == {k for k in expected if "tea" in dict((m[0], m[1]) for m in MEMORIES)[k]}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"AND": []}, "AND needs a non-empty list"),
        ({"and": [{"user_id": "ana"}]}, "write AND in capitals"),
        ({"priority": {"greater": 3}}, "unknown operator 'greater'"),
        ({"user": "ana"}, "cannot filter on 'user'"),
        ({"userid": "ana"}, "did you mean 'user_id'"),
        ({"created_at": {"gte": "last week"}}, "needs an ISO date"),
        ({"tags": {"gt": "a"}}, "gt does not apply to tags"),
        ({"tags": {"in": "food"}}, "in needs a non-empty list"),
        ({"priority": {"eq": [1]}}, "compare with a string, number"),
        ({"metadata.": 1}, "needs a key after the dot"),
        ({"AND": [{"user_id": "ana"}, {"user_id": "bob"}]}, "given twice"),
        (["user_id", "ana"], "must be a mapping"),
    ],
)
def test_a_malformed_filter_is_one_error_naming_what_is_supported(
    vault: tuple[Memory, dict[str, str]], filters, message
) -> None:
    mem, _ = vault
    for call in (lambda: mem.get_all(filters=filters), lambda: mem.search("tea", filters=filters)):
        with pytest.raises(InvalidInputError, match=message) as caught:
            call()
        assert "supported: fields user_id" in str(caught.value) and "\n" not in str(caught.value)


def test_filters_and_scope_arguments_that_disagree_are_an_error(vault: tuple[Memory, dict[str, str]]) -> None:
    mem, _ = vault
    with pytest.raises(InvalidInputError, match="user_id is 'ana' but filters say 'bob'"):
        mem.search("tea", user_id="ana", filters={"user_id": "bob"})


def test_a_deeply_nested_filter_is_refused_not_a_recursion_error(vault: tuple[Memory, dict[str, str]]) -> None:
    mem, _ = vault
    nested: dict = {"user_id": "ana"}
    for _ in range(5000):
        nested = {"NOT": nested}
    with pytest.raises(InvalidInputError, match="nested deeper than"):
        mem.get_all(filters=nested)


def test_delete_all_forgets_what_the_filter_selects_within_an_exact_scope(tmp_path: Path) -> None:
    mem = Memory(vault=tmp_path / "v")
    keep = mem.add("ana likes tea", user_id="ana", infer=False, tags=["food"])["results"][0]["id"]
    drop = mem.add("ana works at a museum", user_id="ana", infer=False, tags=["work"])["results"][0]["id"]
    shared = mem.add("the office is in Ghent", infer=False, tags=["work"])["results"][0]["id"]
    assert mem.delete_all(filters={"AND": [{"user_id": "ana"}, {"tags": "work"}]})["count"] == 1
    assert {r["id"] for r in mem.get_all()["results"]} == {keep, shared}  # the shared memory stays
    assert mem.get(drop, include_deleted=True)["status"] == "deleted"
    with pytest.raises(InvalidInputError, match="needs a user_id"):
        mem.delete_all(filters={"tags": "work"})  # no scope: never everything


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"user_id": "ana"}, True),
        ({"AND": [{"tags": "x"}, {"OR": [{"agent_id": {"in": ["hr"]}}]}]}, True),
        ({"NOT": {"app_id": "*"}}, True),
        ({"memory": {"contains": "user_id"}}, False),  # the word in a value names no scope
        ({"metadata": {"run_id": 3}}, False),  # a metadata key of that name is metadata
        (None, False),
    ],
)
def test_names_scope_reads_keys_not_text(filters: object, named: bool) -> None:
    """Whether MCP's default user applies: only when the filter names no scope field."""
    from memcli.memory.filters import names_scope

    assert names_scope(filters) == named
