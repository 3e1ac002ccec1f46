"""The library API: Mem0-shaped dicts, scopes, tombstones, history, search behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memcli import InvalidInputError, Memory, NotFoundError
from memcli.vault import markdown

SEARCH_KEYS = [
    "id",
    "memory",
    "score",
    "metadata",
    "created_at",
    "updated_at",
    "user_id",
    "agent_id",
    "run_id",
    "app_id",
    "path",
]


class Clock:
    """A settable clock so tests control created/updated times."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_add_returns_mem0_shape_and_writes_one_file(mem: Memory, vault: Path) -> None:
    result = mem.add("user prefers TypeScript over JavaScript", user_id="ray", infer=False)
    assert list(result) == ["results"]
    (item,) = result["results"]
    assert item["event"] == "ADD" and item["memory"] == "user prefers TypeScript over JavaScript"
    assert item["id"].startswith("m-")
    files = list((vault / "memories").glob("*.md"))
    assert len(files) == 1 and files[0].name.endswith(f"{item['id']}.md")
    meta = markdown.parse(files[0].read_text()).meta
    assert meta["id"] == item["id"] and meta["user"] == "ray"
    assert (vault / "mem.toml").is_file()


def test_search_result_shape_and_metadata_round_trip(mem: Memory) -> None:
    metadata = {"dia_id": "D1:3", "n": 2, "flag": False, "nested": {"a": [1, "no"]}, "zero": "0123"}
    added = mem.add("working on self.md Hugo site", user_id="ray", metadata=metadata, infer=False)
    result = mem.search("Hugo site", user_id="ray")
    assert set(result) >= {"results", "relations"}
    assert result["mode"] == "bm25"
    (hit,) = result["results"]
    assert list(hit) == SEARCH_KEYS
    assert hit["id"] == added["results"][0]["id"]
    assert hit["metadata"] == metadata
    assert hit["user_id"] == "ray" and hit["agent_id"] is None and hit["run_id"] is None
    assert hit["score"] > 0
    assert hit["path"].startswith("memories/")


def test_seed_example_in_keyword_form(mem: Memory) -> None:
    ts = mem.add("user prefers TypeScript over JavaScript", user_id="ray")["results"][0]["id"]
    hugo = mem.add("working on self.md Hugo site", user_id="ray")["results"][0]["id"]
    assert [r["id"] for r in mem.search("TypeScript", user_id="ray")["results"]] == [ts]
    assert [r["id"] for r in mem.search("Hugo site", user_id="ray")["results"]] == [hugo]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_tiny_vault_still_finds_the_match(mem: Memory, count: int) -> None:
    texts = ["prefers pnpm over npm", "lives in Porto", "allergic to peanuts"][:count]
    for text in texts:
        mem.add(text, infer=False)
    hits = mem.search("pnpm")["results"]
    assert [h["memory"] for h in hits] == ["prefers pnpm over npm"]


def test_a_query_that_matches_nothing_returns_nothing(mem: Memory) -> None:
    mem.add("prefers pnpm over npm", infer=False)
    mem.add("lives in Porto", infer=False)
    assert mem.search("quantum chromodynamics")["results"] == []
    assert mem.search("the and of")["results"] == []  # stopwords only


def test_ties_break_newer_first(vault: Path) -> None:
    clock = Clock()
    mem = Memory(vault=vault, clock=clock)
    older = mem.add("likes green tea", infer=False)["results"][0]["id"]
    clock.advance(days=1)
    newer = mem.add("likes green tea", infer=False)["results"][0]["id"]
    assert [h["id"] for h in mem.search("green tea")["results"]] == [newer, older]


def test_better_match_ranks_first(mem: Memory) -> None:
    mem.add("Ray's sister Maya lives in Oslo", user_id="ray", infer=False)
    mem.add("Ray's favourite city is Lisbon, after Oslo", user_id="ray", infer=False)
    mem.add("Maya is a marine biologist", user_id="ray", infer=False)
    top = mem.search("where does Maya live", user_id="ray")["results"][0]
    assert top["memory"] == "Ray's sister Maya lives in Oslo"


def test_scope_isolation_is_exact_and_shared_memories_show_everywhere(mem: Memory) -> None:
    mem.add("ray uses vim", user_id="ray", infer=False)
    mem.add("ana uses vim too", user_id="ana", infer=False)
    mem.add("the coding agent uses vim keybindings", user_id="ray", agent_id="coder", infer=False)
    mem.add("team editor is vim", infer=False)  # no scope: shared
    mem.add("run-only vim note", run_id="s1", infer=False)

    def texts(**scope: str) -> set[str]:
        return {r["memory"] for r in mem.search("vim", **scope)["results"]}

    assert texts(user_id="ray") == {
        "ray uses vim",
        "the coding agent uses vim keybindings",
        "team editor is vim",
        "run-only vim note",
    }
    assert texts(user_id="ana") == {"ana uses vim too", "team editor is vim", "run-only vim note"}
    # a user-level memory (no agent) is shared by all of that user's agents
    assert texts(user_id="ray", agent_id="coder") == {
        "ray uses vim",
        "the coding agent uses vim keybindings",
        "team editor is vim",
        "run-only vim note",
    }
    assert texts(user_id="ray", agent_id="other") == {"ray uses vim", "team editor is vim", "run-only vim note"}
    assert texts(user_id="ray", run_id="s2") == {
        "ray uses vim",
        "the coding agent uses vim keybindings",
        "team editor is vim",
    }
    assert "ray uses vim" not in {r["memory"] for r in mem.get_all(user_id="ana")["results"]}
    assert texts(user_id="rayX") == {"team editor is vim", "run-only vim note"}  # no prefix matching


def test_get_and_get_all(mem: Memory) -> None:
    first = mem.add("one", user_id="ray", tags=["a"], infer=False)["results"][0]["id"]
    second = mem.add("two", user_id="ray", infer=False)["results"][0]["id"]
    got = mem.get(first)
    assert got is not None and got["memory"] == "one" and got["tags"] == ["a"] and got["status"] == "current"
    assert mem.get("m-doesnotexist") is None
    listed = mem.get_all(user_id="ray")["results"]
    assert [r["id"] for r in listed] == [second, first]  # newest first
    assert len(mem.get_all(user_id="ray", limit=1)["results"]) == 1


def test_update_keeps_id_and_records_history(vault: Path) -> None:
    clock = Clock()
    mem = Memory(vault=vault, clock=clock)
    memory_id = mem.add("lives in Porto", user_id="ray", infer=False)["results"][0]["id"]
    clock.advance(days=1)
    assert mem.update(memory_id, "lives in Ghent")["message"] == "Memory updated successfully!"
    clock.advance(days=1)
    mem.update(memory_id, "lives in Ghent, Belgium")
    got = mem.get(memory_id)
    assert got is not None and got["memory"] == "lives in Ghent, Belgium"
    assert got["created_at"] == "2026-01-01T00:00:00.000Z" and got["updated_at"] == "2026-01-03T00:00:00.000Z"
    assert mem.search("Porto")["results"] == []
    history = mem.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "lives in Porto"),
        ("UPDATE", "lives in Porto", "lives in Ghent"),
        ("UPDATE", "lives in Ghent", "lives in Ghent, Belgium"),
    ]
    assert list(history[0]) == ["id", "memory_id", "old_memory", "new_memory", "event", "created_at"]
    assert [h["created_at"] for h in history] == [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ]
    # the history lives in the vault file, not in derived state
    text = (vault / got["path"]).read_text()
    assert "lives in Porto" in text


def test_update_preserves_unknown_keys_and_hand_formatting(mem: Memory, vault: Path) -> None:
    memory_id = mem.add("original", infer=False)["results"][0]["id"]
    path = next((vault / "memories").glob("*.md"))
    text = path.read_text().replace("source: api\n", "source: api\nreviewed_by:   'Ana'   # keep me\nextra:\n  - x\n")
    path.write_text(text)
    mem.update(memory_id, "new text\n\n  - with  odd   spacing")
    after = path.read_text()
    assert "reviewed_by:   'Ana'   # keep me\nextra:\n  - x\n" in after
    assert after.endswith("---\nnew text\n\n  - with  odd   spacing\n")
    mem.delete(memory_id)
    assert "reviewed_by:   'Ana'   # keep me\nextra:\n  - x\n" in path.read_text()
    assert path.read_text().endswith("---\nnew text\n\n  - with  odd   spacing\n")


def test_forget_is_a_tombstone_and_purge_removes_the_file(mem: Memory, vault: Path) -> None:
    keep = mem.add("keeps bees", user_id="ray", infer=False)["results"][0]["id"]
    gone = mem.add("keeps chickens", user_id="ray", infer=False)["results"][0]["id"]
    assert mem.delete(gone)["message"] == "Memory deleted successfully!"
    assert [r["id"] for r in mem.search("keeps", user_id="ray")["results"]] == [keep]
    assert [r["id"] for r in mem.get_all(user_id="ray")["results"]] == [keep]
    assert mem.get(gone) is None  # as Mem0: a deleted memory is gone for get
    tomb = mem.get(gone, include_deleted=True)
    assert tomb is not None and tomb["status"] == "deleted"
    assert (vault / tomb["path"]).exists()
    assert {r["id"] for r in mem.search("keeps", user_id="ray", include_all=True)["results"]} == {keep, gone}
    assert mem.history(gone)[-1]["event"] == "DELETE"
    with pytest.raises(InvalidInputError, match="deleted"):
        mem.update(gone, "keeps ducks")
    mem.delete(gone, purge=True)
    assert not (vault / tomb["path"]).exists()
    assert mem.get(gone) is None


def test_delete_all_needs_a_scope_and_spares_other_scopes(mem: Memory) -> None:
    mem.add("ray one", user_id="ray", infer=False)
    mem.add("ray two", user_id="ray", agent_id="coder", infer=False)
    mem.add("ana one", user_id="ana", infer=False)
    mem.add("shared", infer=False)
    with pytest.raises(InvalidInputError, match="needs a user_id"):
        mem.delete_all()
    assert mem.delete_all(user_id="ray")["count"] == 2
    assert [r["memory"] for r in mem.get_all(user_id="ray")["results"]] == ["shared"]
    assert {r["memory"] for r in mem.get_all()["results"]} == {"ana one", "shared"}


def test_messages_are_accepted_in_mem0_shape(mem: Memory) -> None:
    conversation = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "I moved to Ghent last year"},
        {"role": "assistant", "content": "You should try the waffles"},
    ]
    inferred = mem.add(conversation, user_id="ray")
    assert [r["memory"] for r in inferred["results"]] == ["Moved to Ghent last year"]  # the assistant's turn is context
    verbatim = mem.add(conversation, user_id="ana", infer=False)
    assert [r["memory"] for r in verbatim["results"]] == ["I moved to Ghent last year", "You should try the waffles"]


def test_hand_written_notes_are_searchable_but_not_editable(mem: Memory, vault: Path) -> None:
    mem.init()
    notes = vault / "notes"
    notes.mkdir()
    (notes / "falcon.md").write_text("# Project Falcon\n\nThe ingestion service, written in Rust.\n")
    (notes / "meeting.md").write_text("---\ntitle: Weekly\n---\nDiscussed Rust upgrade.\n")
    hits = mem.search("rust", user_id="anyone")["results"]
    assert {h["path"] for h in hits} == {"notes/falcon.md", "notes/meeting.md"}
    assert mem.search("falcon")["results"][0]["path"] == "notes/falcon.md"  # title counts
    note_id = hits[0]["id"]
    assert note_id.startswith("n-")
    assert mem.get(note_id) is not None
    with pytest.raises(InvalidInputError, match="hand-written note"):
        mem.update(note_id, "changed")
    with pytest.raises(InvalidInputError, match="hand-written note"):
        mem.delete(note_id)


def test_renamed_file_keeps_its_id(mem: Memory, vault: Path) -> None:
    memory_id = mem.add("speaks Portuguese", infer=False)["results"][0]["id"]
    path = next((vault / "memories").glob("*.md"))
    (vault / "people").mkdir()
    path.rename(vault / "people" / "languages.md")
    got = mem.get(memory_id)
    assert got is not None and got["path"] == "people/languages.md"
    mem.update(memory_id, "speaks Portuguese and Dutch")
    assert "Dutch" in (vault / "people" / "languages.md").read_text()


def test_filters_and_threshold(mem: Memory) -> None:
    mem.add("deploys with docker", tags=["ops"], metadata={"team": "infra"}, infer=False)
    mem.add("docker compose for local dev", tags=["dev"], infer=False)
    assert [r["memory"] for r in mem.search("docker", filters={"tags": "ops"})["results"]] == ["deploys with docker"]
    assert [r["memory"] for r in mem.search("docker", filters={"team": "infra"})["results"]] == ["deploys with docker"]
    assert mem.search("docker", threshold=1e9)["results"] == []


def test_unknown_ids_raise_not_found(mem: Memory) -> None:
    mem.add("something", infer=False)
    for call in (
        lambda: mem.update("m-0000000000", "x"),
        lambda: mem.delete("m-0000000000"),
        lambda: mem.history("m-0000000000"),
    ):
        with pytest.raises(NotFoundError, match="no memory with id m-0000000000"):
            call()


def test_reading_never_creates_the_default_vault(isolated_home: Path) -> None:
    mem = Memory()
    assert mem.search("anything")["results"] == []
    assert mem.get_all()["results"] == []
    assert not mem.vault.root.exists()
    mem.add("first write creates it", infer=False)
    assert mem.vault.root == isolated_home / ".local" / "share" / "mem" / "vault"
    assert (mem.vault.root / "mem.toml").is_file()


def test_an_id_clash_with_an_unindexed_file_gets_a_new_id(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memcli.memory import core

    Memory(vault=vault).init()
    taken = vault / "memories" / "likes-tea-m-aaaaaaaaaa.md"
    taken.write_text("---\nid: m-aaaaaaaaaa\n---\nsomeone else's file\n")
    ids = iter(["m-aaaaaaaaaa", "m-bbbbbbbbbb"])
    monkeypatch.setattr(core, "new_id", lambda: next(ids))
    added = Memory(vault=vault).add("likes tea", infer=False)
    assert added["results"][0]["id"] == "m-bbbbbbbbbb"
    assert taken.read_text() == "---\nid: m-aaaaaaaaaa\n---\nsomeone else's file\n"  # never overwritten


def test_settings_can_be_replaced_on_a_live_memory(vault: Path) -> None:
    import dataclasses

    mem = Memory(vault=vault)
    mem.settings = dataclasses.replace(mem.settings, freshness_ms=10**9)
    assert mem.core.settings.freshness_ms == 10**9  # every part reads the one Core's settings
