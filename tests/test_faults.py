"""Faults from the second catalogue (the safety issue) that are fixed: each test fails without its fix."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from memcli import ConflictError, InvalidInputError, Memory, NotFoundError, VaultError
from memcli.models import check_id


def test_a_fifo_named_md_hangs_nothing_and_doctor_names_it(mem: Memory, vault: Path) -> None:
    mem.add("likes tea", infer=False)
    os.mkfifo(vault / "memories" / "pipe.md")
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(mem.search("tea")), daemon=True)
    worker.start()
    worker.join(10)  # a read of the FIFO would block for ever
    assert done and [r["memory"] for r in done[0]["results"]] == ["likes tea"]  # type: ignore[index]
    problems = {p["path"]: p["reason"] for p in mem.doctor()["problems"]}
    assert "FIFO" in problems["memories/pipe.md"]


def test_a_symlink_loop_is_skipped_and_reported(mem: Memory, vault: Path) -> None:
    mem.add("likes tea", infer=False)
    os.symlink(vault / "memories" / "b.md", vault / "memories" / "a.md")
    os.symlink(vault / "memories" / "a.md", vault / "memories" / "b.md")
    assert [r["memory"] for r in mem.search("tea")["results"]] == ["likes tea"]
    reasons = {p["path"]: p["reason"] for p in mem.doctor()["problems"]}
    assert "loops" in reasons["memories/a.md"] and "loops" in reasons["memories/b.md"]


@pytest.mark.parametrize("bad", ["m-1\n", "m-1\r\n", " m-1"])
def test_an_id_with_a_line_break_is_no_id(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid memory id"):
        check_id(bad)


def test_id_true_in_a_hand_written_file_is_a_problem_not_the_id_true(mem: Memory, vault: Path) -> None:
    mem.init()
    (vault / "memories" / "odd.md").write_text("---\nid: true\n---\nsomething\n")
    problems = {p["path"]: p["reason"] for p in mem.doctor()["problems"]}
    assert "not a valid id" in problems["memories/odd.md"]
    assert mem.get("True") is None


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"tags": 5}, "tags values must be strings"),
        ({"user_id": 7}, "user_id values must be strings"),
        ("tags", "mapping"),
    ],
)
def test_bad_filters_are_one_clear_error(mem: Memory, filters: object, message: str) -> None:
    mem.add("likes tea", infer=False, tags=["drinks"])
    with pytest.raises(InvalidInputError, match=message):
        mem.search("tea", filters=filters)  # type: ignore[arg-type]


@pytest.mark.parametrize("marker", ["<<<<<<< HEAD", ">>>>>>> theirs"])
def test_text_with_a_conflict_marker_line_is_refused_on_add_and_import(mem: Memory, marker: str) -> None:
    with pytest.raises(InvalidInputError, match="git conflict marker"):
        mem.add(f"notes\n{marker}\nmore", infer=False)
    with pytest.raises(InvalidInputError, match="git conflict marker"):
        mem.import_text('{"id": "m-aaaaaaaaaa", "memory": "x\\n' + marker + '"}\n')
    assert mem.get_all()["results"] == []
    mem.add("the merge went fine =======", infer=False)  # an underline or a mention is fine


def test_reading_a_folder_that_is_no_vault_creates_no_state(tmp_path: Path) -> None:
    plain = tmp_path / "some-folder"
    plain.mkdir()
    (plain / "todo.md").write_text("# Todo\n\nbuy oat milk\n")
    mem = Memory(vault=plain)
    assert [r["path"] for r in mem.search("oat milk")["results"]] == ["todo.md"]  # searchable all the same
    assert not (plain / ".mem").exists()


# -- a long-running process (an MCP server) acts on the file as it is now, not as its index was -------


@pytest.fixture
def stale(vault: Path, monkeypatch: pytest.MonkeyPatch) -> Memory:
    """A Memory that re-checks the files only once an hour, as a busy server would within its second."""
    monkeypatch.setenv("MEM_FRESHNESS_MS", "3600000")
    return Memory(vault=vault)


def _edit(vault: Path, memory_id: str, old: str, new: str) -> Path:
    (path,) = (vault / "memories").glob(f"*-{memory_id}.md")
    path.write_text(path.read_text().replace(old, new))
    return path


def test_update_keeps_a_persons_edit_made_after_the_index_was_read(stale: Memory, vault: Path) -> None:
    memory_id = stale.add("likes tea", infer=False)["results"][0]["id"]
    stale.search("tea")  # the index is loaded and, for the next hour, trusted
    _edit(vault, memory_id, "likes tea", "likes green tea")
    stale.update(memory_id, "likes coffee")
    assert [h["old_memory"] for h in Memory(vault=vault).history(memory_id) if h["event"] == "UPDATE"] == [
        "likes green tea"
    ]


@pytest.mark.parametrize("half_saved", ["", "---\nid: m-00000000aa\n"])
def test_update_during_an_editors_in_place_save_writes_nothing(stale: Memory, vault: Path, half_saved: str) -> None:
    memory_id = stale.add("likes tea", infer=False, user_id="ana", tags=["drinks"])["results"][0]["id"]
    stale.search("tea")
    (path,) = (vault / "memories").glob(f"*-{memory_id}.md")
    path.write_text(half_saved)  # truncated, or another id: the editor has not finished
    with pytest.raises(ConflictError, match="being changed on disk|no longer holds"):
        stale.update(memory_id, "likes coffee")
    assert path.read_text() == half_saved  # not rewritten without its id, scope and tags


def test_an_update_decided_on_a_stale_index_follows_the_memory_that_replaced_its_target(
    stale: Memory, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes add "I moved to …" after "I live in Porto". The first writes its files under the
    lock and indexes them after it: in that window the second must replace the first's Lisbon, not
    Porto again (which left two current homes)."""
    other = Memory(vault=vault)
    stale.add("I live in Porto", user_id="ana")
    stale.search("Porto", user_id="ana")  # decided on from here on: Porto is current
    monkeypatch.setattr(other.core, "reindex", lambda **_: None)  # its files are written, not yet indexed
    lisbon = other.add("I moved to Lisbon", user_id="ana")["results"][0]
    berlin = stale.add("I moved to Berlin", user_id="ana")["results"][0]
    assert berlin["event"] == "UPDATE" and berlin["previous_id"] == lisbon["id"]
    assert [r["memory"] for r in Memory(vault=vault).get_all(user_id="ana")["results"]] == ["Lives in Berlin"]


# -- nothing a write produces is ever a file mem will not read ----------------------------------------


def test_a_memory_updated_often_stays_readable_and_keeps_its_whole_history(mem: Memory, vault: Path) -> None:
    versions = [f"version {n} " + "x" * 60_000 for n in range(31)]  # 30 updates of a 60 kB memory
    memory_id = mem.add(versions[0], infer=False)["results"][0]["id"]
    for text in versions[1:]:
        mem.update(memory_id, text)
    assert mem.get(memory_id)["memory"] == versions[-1]  # it was "no memory with id …" past 1 MB
    assert max(p.stat().st_size for p in (vault / "memories").glob("*.md")) <= 1_000_000
    events = mem.history(memory_id)
    assert [e["event"] for e in events] == ["ADD"] + ["UPDATE"] * 30
    assert [e["new_memory"] for e in events] == versions
    assert [e["old_memory"] for e in events[1:]] == versions[:-1]
    assert [r["id"] for r in mem.get_all()["results"]] == [memory_id]  # its past is not a current memory


def test_a_write_over_the_read_limit_is_refused_before_the_rename(vault: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEM_MAX_FILE_BYTES", "2000")
    mem = Memory(vault=vault)
    memory_id = mem.add("short", infer=False)["results"][0]["id"]
    with pytest.raises(VaultError, match="over the 2,000-byte limit mem reads; nothing was changed"):
        mem.add("y" * 3000, infer=False)
    with pytest.raises(VaultError, match="over the 2,000-byte limit"):
        mem.update(memory_id, "z" * 1990)
    assert mem.get(memory_id)["memory"] == "short"
    assert len(list((vault / "memories").glob("*.md"))) == 1


def test_update_and_forget_of_a_memory_whose_file_has_a_git_conflict_say_so(mem: Memory, vault: Path) -> None:
    memory_id = mem.add("lives in Porto", infer=False)["results"][0]["id"]
    (path,) = (vault / "memories").glob(f"*-{memory_id}.md")
    text = path.read_text().replace(
        "lives in Porto", "<<<<<<< HEAD\nlives in Ghent\n=======\nlives in Lisbon\n>>>>>>> b1\n"
    )
    path.write_text(text)
    for act in (lambda: mem.update(memory_id, "lives in Oslo"), lambda: mem.delete(memory_id)):
        with pytest.raises(NotFoundError, match=f"{memory_id}: memories/.* is skipped: git conflict markers"):
            act()  # not "no memory with id …"
    assert path.read_text() == text


# -- a committed mem.toml cannot send the user's key and memories anywhere -----------------------------


@pytest.mark.parametrize(
    ("committed", "used"),
    [
        ("https://collector.example/v1", None),  # anywhere else: ignored, with a warning
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),  # a local Ollama in the vault's config: fine
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
    ],
)
def test_a_vaults_llm_url_counts_only_on_this_machine(
    vault: Path, monkeypatch: pytest.MonkeyPatch, committed: str, used: str | None
) -> None:
    monkeypatch.setenv("MEM_LLM_API_KEY", "sk-users-own-key")
    vault.mkdir()
    (vault / "mem.toml").write_text(f'[llm]\nbase_url = "{committed}"\nmodel = "m"\n')
    assert Memory(vault=vault).settings.llm_base_url == used


def test_the_users_own_config_or_environment_may_name_any_llm(
    vault: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    vault.mkdir()
    (vault / "mem.toml").write_text('[llm]\nbase_url = "https://collector.example/v1"\nmodel = "m"\n')
    config = isolated_home / ".config" / "mem" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[llm]\nbase_url = "https://api.openai.com/v1"\n')
    assert Memory(vault=vault).settings.llm_base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("MEM_LLM_BASE_URL", "https://llm.internal/v1")
    assert Memory(vault=vault).settings.llm_base_url == "https://llm.internal/v1"
