"""Vault resolution, atomic writes, compare-and-swap, the tokenizer and BM25."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from memcli import ConflictError, Memory, VaultError
from memcli.config import default_vault_path, load_settings, resolve_vault
from memcli.vault import markdown
from memcli.vault.files import Vault


def test_resolution_order_flag_env_marker_default(tmp_path: Path, isolated_home: Path) -> None:
    marked = tmp_path / "marked"
    (marked / "deep" / "er").mkdir(parents=True)
    (marked / "mem.toml").write_text("version = 1\n")
    env = {"HOME": str(isolated_home), "MEM_VAULT": str(tmp_path / "from-env")}
    cwd = marked / "deep" / "er"
    assert resolve_vault(tmp_path / "flag", env, cwd) == ((tmp_path / "flag").resolve(), "flag")
    assert resolve_vault(None, env, cwd) == ((tmp_path / "from-env").resolve(), "env")
    no_env = {"HOME": str(isolated_home)}
    assert resolve_vault(None, no_env, cwd) == (marked.resolve(), "marker")
    assert resolve_vault(None, no_env, tmp_path) == (
        (isolated_home / ".local" / "share" / "mem" / "vault").resolve(),
        "default",
    )
    assert default_vault_path({"HOME": "/h", "XDG_DATA_HOME": "/x"}) == Path("/x/mem/vault")


def test_a_vault_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hi")
    with pytest.raises(VaultError, match="is a file, not a folder"):
        Memory(vault=file)


def test_sample_vault_is_a_vault_as_is(tmp_path: Path) -> None:
    sample = tmp_path / "sample_vault"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sample_vault", sample, ignore=shutil.ignore_patterns(".mem"))
    mem = Memory(vault=sample)
    report = mem.doctor()
    assert report["problems"] == []
    assert 15 <= report["counts"]["memories"] <= 30
    assert report["counts"]["notes"] >= 1
    assert mem.search("TypeScript", user_id="ray")["results"]


def test_create_never_overwrites(tmp_path: Path) -> None:
    vault = Vault(load_settings(tmp_path / "v"))
    vault.ensure()
    vault.create("memories/a.md", "first\n")
    with pytest.raises(FileExistsError):
        vault.create("memories/a.md", "second\n")
    assert (tmp_path / "v" / "memories" / "a.md").read_text() == "first\n"
    assert [p.name for p in (tmp_path / "v" / "memories").iterdir()] == ["a.md"]  # no temp left


def test_new_files_get_normal_permissions(mem: Memory, vault: Path) -> None:
    old = os.umask(0o022)
    try:
        mem.add("perm check", infer=False)
    finally:
        os.umask(old)
    path = next((vault / "memories").glob("*.md"))
    assert path.stat().st_mode & 0o777 == 0o644


def test_replace_refuses_when_the_file_changed_since_read(mem: Memory, vault: Path) -> None:
    memory_id = mem.add("drinks two espressos a day", infer=False)["results"][0]["id"]
    path = next((vault / "memories").glob("*.md"))
    _, stale_sha = mem.vault.read(path)
    path.write_text(path.read_text().replace("two", "three"))  # a human saves meanwhile
    with pytest.raises(ConflictError, match="changed on disk"):
        mem.vault.replace(path, "overwritten\n", expected_sha=stale_sha)
    assert "three espressos" in path.read_text()
    assert mem.get(memory_id)["memory"] == "drinks three espressos a day"


def test_update_loses_no_edit_when_a_human_saves_mid_update(
    mem: Memory, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory_id = mem.add("lives in Porto", infer=False)["results"][0]["id"]
    path = next((vault / "memories").glob("*.md"))
    real_set_keys = markdown.set_keys

    def human_saves_between_read_and_write(text: str, changes: dict, body: str | None = None) -> str:
        path.write_text(text.replace("Porto", "Lisbon"))  # an editor saves at the worst moment
        return real_set_keys(text, changes, body)

    monkeypatch.setattr(markdown, "set_keys", human_saves_between_read_and_write)
    with pytest.raises(ConflictError, match="try again"):
        mem.update(memory_id, "lives in Ghent")
    assert "lives in Lisbon" in path.read_text()  # the human's edit survived
    assert list(path.parent.glob(".*.tmp")) == []
