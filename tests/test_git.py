"""The vault as a git repository: init, one commit per write, hand edits left alone, sync
between two clones through a bare remote (a clean merge and a real conflict), git log."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import Memory, VaultError
from memcli.cli.commands import app
from memcli.vault.git import GitError

runner = CliRunner()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def subjects(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_init_git_makes_a_repo_with_a_first_commit(vault: Path) -> None:
    result = runner.invoke(app, ["init", str(vault), "--git"], catch_exceptions=False)
    assert result.stdout == f"Initialised {vault} (git repository, autocommit on)\n"
    assert subjects(vault) == ["mem: init vault"]
    tracked = set(git(vault, "ls-files").split())
    assert tracked == {".gitignore", ".gitattributes", "mem.toml"}
    assert ".mem/" in (vault / ".gitignore").read_text()
    assert "[git]\nautocommit = true" in (vault / "mem.toml").read_text()


def test_every_write_is_one_commit_and_hand_edits_are_not_committed(vault: Path) -> None:
    Memory(vault=vault).init(git=True)
    mem = Memory(vault=vault)
    memory_id = mem.add("prefers pnpm over npm", user_id="ray", infer=False)["results"][0]["id"]
    (vault / "notes.md").write_text("a hand-written note\n")  # not mem's: must stay uncommitted
    mem.update(memory_id, "prefers bun over pnpm")
    mem.delete(memory_id)
    assert subjects(vault) == [
        f"mem: forget {memory_id}",
        f"mem: update {memory_id}",
        f"mem: add {memory_id}: prefers pnpm over npm",
        "mem: init vault",
    ]
    assert "notes.md" in git(vault, "status", "--porcelain")
    assert git(vault, "status", "--porcelain", "--", "memories").strip() == ""
    assert runner.invoke(app, ["--vault", str(vault), "commit", "-m", "my notes"]).stdout == "Committed.\n"
    assert subjects(vault)[0] == "my notes"
    history = runner.invoke(app, ["--vault", str(vault), "history", memory_id], catch_exceptions=False).stdout
    assert f"mem: forget {memory_id}" in history and f"mem: add {memory_id}" in history


def test_no_autocommit_without_git_init(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("not versioned", infer=False)
    assert not (vault / ".git").exists()
    with pytest.raises(GitError, match="not a git repository"):
        mem.sync()


def _two_clones(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    first = tmp_path / "laptop"
    Memory(vault=first).init(git=True)
    git(first, "remote", "add", "origin", str(origin))
    git(first, "push", "-q", "-u", "origin", "HEAD")
    second = tmp_path / "desktop"
    subprocess.run(["git", "clone", "-q", str(origin), str(second)], check=True)
    return first, second


def test_sync_merges_concurrent_adds_from_two_machines(tmp_path: Path) -> None:
    laptop, desktop = _two_clones(tmp_path)
    Memory(vault=laptop).add("added on the laptop", infer=False)
    Memory(vault=desktop).add("added on the desktop", infer=False)
    assert Memory(vault=laptop).sync()["pushed"]
    result = runner.invoke(app, ["--vault", str(desktop), "sync"], catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout.startswith("Synced: 1 file(s) came in")
    Memory(vault=laptop).sync()
    for machine in (laptop, desktop):
        texts = {r["memory"] for r in Memory(vault=machine).get_all()["results"]}
        assert texts == {"added on the laptop", "added on the desktop"}


def _both_sides_changed(tmp_path: Path) -> Path:
    """Two clones that changed the same memory, the laptop's change pushed: the desktop's next
    sync stops on a real conflict. Returns the desktop's vault."""
    laptop, desktop = _two_clones(tmp_path)
    memory_id = Memory(vault=laptop).add("lives in Porto", infer=False)["results"][0]["id"]
    Memory(vault=laptop).sync()
    Memory(vault=desktop).sync()
    Memory(vault=laptop).update(memory_id, "lives in Ghent")
    Memory(vault=desktop).update(memory_id, "lives in Lisbon")
    Memory(vault=laptop).sync()
    return desktop


def test_sync_reports_a_real_conflict_and_search_skips_the_file(tmp_path: Path) -> None:
    desktop = _both_sides_changed(tmp_path)
    result = runner.invoke(app, ["--vault", str(desktop), "sync"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: sync stopped: memories/") and "changed on both sides" in result.stderr
    mem = Memory(vault=desktop)
    assert mem.search("lives")["results"] == []  # the conflicted file is skipped…
    (problem,) = mem.doctor()["problems"]
    assert problem["reason"].startswith("git conflict markers")  # …and listed


def test_without_git_init_git_is_a_clear_error_and_writes_only_warn(
    vault: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from memcli.vault import git as gitrepo

    Memory(vault=vault).init(git=True)
    monkeypatch.setattr(gitrepo, "available", lambda: False)
    with pytest.raises(GitError, match="git is not installed or not on PATH"):
        Memory(vault=vault.parent / "other").init(git=True)
    with caplog.at_level("WARNING", logger="memcli"):
        assert Memory(vault=vault).add("saved anyway", infer=False)["results"]
    assert any("saved but not committed" in r.getMessage() for r in caplog.records)
    assert Memory(vault=vault).search("saved")["results"]


def test_writes_are_refused_while_a_stopped_sync_leaves_a_rebase(tmp_path: Path) -> None:
    """A commit during the rebase would land on its temporary HEAD, and `git rebase --abort` drops it."""
    desktop = _both_sides_changed(tmp_path)
    assert runner.invoke(app, ["--vault", str(desktop), "sync"]).exit_code == 1  # stopped on the conflict
    with pytest.raises(VaultError, match=r"git rebase is in progress.*--abort"):
        Memory(vault=desktop).add("uses vim", infer=False)
    subprocess.run(["git", "rebase", "--abort"], cwd=desktop, check=True, capture_output=True)
    assert Memory(vault=desktop).add("uses vim", infer=False)["results"][0]["event"] == "ADD"
