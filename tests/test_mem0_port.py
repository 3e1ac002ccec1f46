"""Code written for Mem0, run against memcli unchanged (only the import differs): its documented
quickstart and filter examples, and each API gap a Mem0 user hits on the first day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memcli import AsyncMemory, InvalidInputError, Memory
from memcli import Memory as Mem0Memory  # the one line a port changes: `from mem0 import Memory`


@pytest.fixture
def bundled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")  # the quickstart searches by meaning


def test_mem0s_quickstart_runs_unchanged(bundled: None) -> None:
    m = Mem0Memory()  # the default vault, as Mem0's Memory() uses its default store
    messages = [
        {"role": "user", "content": "I'm planning to watch a movie tonight. Any recommendations?"},
        {"role": "assistant", "content": "How about thriller movies? They can be quite engaging."},
        {"role": "user", "content": "I'm not a big fan of thriller movies but I love sci-fi movies."},
        {"role": "assistant", "content": "Got it! I'll avoid thriller recommendations and suggest sci-fi movies."},
    ]
    result = m.add(messages, user_id="alice", metadata={"category": "movies"})
    assert result["results"] and all(r["event"] == "ADD" for r in result["results"])
    related = m.search(query="What do you know about me?", user_id="alice")
    assert any("sci-fi" in r["memory"] for r in related["results"])
    found = m.search("movie preferences", filters={"user_id": "alice"}, top_k=5)  # Mem0 2.x style
    assert "sci-fi" in found["results"][0]["memory"] and found["results"][0]["metadata"] == {"category": "movies"}
    all_memories = m.get_all(filters={"user_id": "alice"})
    memory_id = all_memories["results"][0]["id"]
    assert m.get(memory_id)["memory"] == all_memories["results"][0]["memory"]
    m.update(memory_id=memory_id, data="Likes to play tennis on weekends")
    assert [h["event"] for h in m.history(memory_id=memory_id)] == ["ADD", "UPDATE"]
    m.delete(memory_id=memory_id)
    assert m.get(memory_id) is None  # Mem0 returns None for a deleted memory
    m.add("Loves hiking", user_id="alice", infer=False)
    assert m.delete_all(user_id="alice")["count"] == 1
    m.add("Loves hiking", user_id="alice", infer=False)
    m.reset()
    assert m.get_all(user_id="alice")["results"] == []


def test_mem0s_filter_examples_return_the_right_memories(vault: Path) -> None:
    m = Memory(vault=vault)
    m.add("Likes cricket on weekends", user_id="alice", agent_id="sports-agent", infer=False, metadata={"priority": 8})
    m.add("Flies to Lisbon in May", user_id="alice", agent_id="travel-agent", run_id="trip", infer=False)
    m.add("Bob plays chess", user_id="bob", agent_id="chess-agent", infer=False, metadata={"priority": 3})
    hobbies = m.search(
        query="What are Alice's hobbies?",
        filters={"OR": [{"user_id": "alice"}, {"agent_id": {"in": ["travel-agent", "sports-agent"]}}]},
    )
    assert {r["memory"] for r in hobbies["results"]} <= {"Likes cricket on weekends", "Flies to Lisbon in May"}
    runs = m.get_all(filters={"AND": [{"user_id": "alice"}, {"run_id": "*"}]})
    assert [r["memory"] for r in runs["results"]] == ["Flies to Lisbon in May"]
    important = m.get_all(filters={"AND": [{"priority": {"gte": 5}}, {"NOT": [{"user_id": "bob"}]}]})
    assert [r["memory"] for r in important["results"]] == ["Likes cricket on weekends"]


def test_app_id_is_a_fourth_scope_written_as_app(vault: Path) -> None:
    m = Memory(vault=vault)
    kept = m.add("Uses dark mode", user_id="ana", app_id="editor", infer=False)["results"][0]
    m.add("Uses light mode", user_id="ana", app_id="browser", infer=False)
    (path,) = [p for p in (vault / "memories").glob("*.md") if kept["id"] in p.name]
    assert "\napp: editor\n" in path.read_text()
    assert [r["memory"] for r in m.get_all(user_id="ana", app_id="editor")["results"]] == ["Uses dark mode"]
    assert [r["app_id"] for r in m.search("mode", filters={"app_id": "browser"})["results"]] == ["browser"]
    assert {(e["type"], e["name"]) for e in m.users()["results"]} == {
        ("user", "ana"),
        ("app", "editor"),
        ("app", "browser"),
    }


def test_expiration_date_takes_a_memory_out_of_search_lists_and_context(vault: Path) -> None:
    m = Memory(vault=vault, clock=lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
    gone = m.add("Has a dentist appointment", user_id="ana", infer=False, expiration_date="2026-11-30")["results"][0]
    today = m.add("Is at a conference", user_id="ana", infer=False, expiration_date="2026-12-01")["results"][0]
    (path,) = [p for p in (vault / "memories").glob("*.md") if gone["id"] in p.name]
    assert "\nexpires: '2026-11-30'\n" in path.read_text() or "\nexpires: 2026-11-30\n" in path.read_text()
    assert [r["id"] for r in m.get_all(user_id="ana")["results"]] == [today["id"]]  # through its whole last day
    assert [r["id"] for r in m.search("appointment conference", user_id="ana")["results"]] == [today["id"]]
    assert gone["id"] not in m.context(user_id="ana")["ids"]
    assert m.get(gone["id"])["expiration_date"] == "2026-11-30"  # still there, by id
    assert m.doctor()["counts"]["expired"] == 1
    with pytest.raises(InvalidInputError, match="expiration_date must be a date"):
        m.add("x", infer=False, expiration_date="next week")


def test_update_takes_text_or_metadata_as_mem0s_client_does(vault: Path) -> None:
    m = Memory(vault=vault)
    memory_id = m.add("Likes tea", user_id="ana", infer=False, metadata={"source": "chat"})["results"][0]["id"]
    m.update(memory_id, text="Likes green tea")
    m.update(memory_id, metadata={"source": "form", "confidence": 0.9})
    got = m.get(memory_id)
    assert got["memory"] == "Likes green tea" and got["metadata"] == {"source": "form", "confidence": 0.9}
    assert [h["event"] for h in m.history(memory_id)] == ["ADD", "UPDATE"]  # the metadata change is no text change
    with pytest.raises(InvalidInputError, match="needs the new text"):
        m.update(memory_id)


def test_top_k_is_limit(vault: Path) -> None:
    m = Memory(vault=vault)
    for i in range(5):
        m.add(f"fact {i} about otters", infer=False)
    assert len(m.search("otters", top_k=2)["results"]) == 2
    assert len(m.get_all(top_k=3)["results"]) == 3


def test_reset_keeps_hand_written_notes(vault: Path) -> None:
    m = Memory(vault=vault)
    m.add("Likes tea", infer=False)
    (vault / "notes.md").write_text("# Notes\nMy own notes about tea.\n")
    assert m.reset()["count"] == 1
    assert [r["memory"] for r in m.search("tea")["results"]] == ["# Notes\nMy own notes about tea."]
    assert list((vault / "memories").glob("*.md")) == []


def test_from_config_maps_mem0s_keys_and_refuses_the_rest(tmp_path: Path) -> None:
    m = Memory.from_config(
        {
            "vector_store": {"provider": "qdrant", "config": {"path": str(tmp_path / "v"), "collection_name": "mem0"}},
            "llm": {
                "provider": "ollama",
                "config": {"model": "llama3.1", "ollama_base_url": "http://localhost:11434/v1"},
            },
            "version": "v1.1",
        }
    )
    assert m.settings.vault == tmp_path / "v" and m.settings.llm_model == "llama3.1"
    assert m.settings.llm_base_url == "http://localhost:11434/v1"
    with pytest.raises(InvalidInputError, match="does not use graph_store"):
        Memory.from_config({"graph_store": {"provider": "neo4j"}})
    with pytest.raises(InvalidInputError, match="bundled all-MiniLM-L6-v2"):
        Memory.from_config({"embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small"}}})
    with pytest.raises(InvalidInputError, match="not OpenAI-compatible"):
        Memory.from_config({"llm": {"provider": "anthropic", "config": {"model": "claude"}}})


def test_async_memory_awaits_the_same_calls(vault: Path) -> None:
    async def run() -> list[str]:
        m = AsyncMemory(vault)
        await m.add("Likes tea", user_id="ana", infer=False)
        found = await m.search("tea", user_id="ana")
        return [r["memory"] for r in found["results"]]

    assert asyncio.run(run()) == ["Likes tea"]
